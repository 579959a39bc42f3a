// The domain objects the resources call: storage, auth and the server's state.
// One instance per Server; every member is thread-safe.
#pragma once

#include <atomic>

#include "auth/authenticator.h"
#include "auth/lockout.h"
#include "server/auth_stores.h"
#include "server/bearer_auth.h"
#include "server/server_options.h"
#include "server/submit_batcher.h"
#include "server/tile_stats.h"
#include "storage/image_store.h"
#include "storage/metrics_store.h"
#include "storage/pg_pool.h"
#include "storage/redis.h"
#include "storage/tasks.h"
#include "storage/tile_queue.h"
#include "storage/users.h"

namespace fractal::server {

struct Services {
  explicit Services(const ServerOptions& options);

  const ServerOptions& options;
  storage::PgPool pool;
  storage::UserRepo users;
  storage::TaskRepo tasks;
  storage::TaskQueue queue;
  SubmitBatcher submits;  // POST /add: group commit over `tasks` and `queue`
  storage::RedisKv auth_kv;  // revocations and sign-in counters
  storage::ImageStore images;
  storage::MetricsStore metrics;
  RedisRevocationStore revocations;
  RedisAttemptCounter attempts;
  auth::Authenticator authenticator;
  auth::LoginGuard login_guard;
  BearerAuth bearer;
  storage::TileQueue tile_queue;  // tiles stream, replies, shared tile cache
  TileStats tile_stats;
  std::atomic<bool> shutting_down{false};
};

}  // namespace fractal::server
