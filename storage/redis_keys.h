// Every Redis key name of the service, in one place. Both binaries (and the
// KEDA trigger in deploy/k8s/base/18-worker-scaledobject.yaml, checked by
// deploy/validate) use these; the options structs take them as defaults so a
// test can run against its own names.
//
//   fractal:tasks                 stream, one entry {id} per queued task; group "renderers" (redis.h)
//   fractal:tasks:dead            stream of entries delivered too often (TaskQueue::dead_letter)
//   fractal:tasks:lease:<id>      render lease of a task, = worker name (render_leases.h)
//   fractal:tasks:requeue:<id>    a reconciler's reservation before it re-enqueues a lost task
//   fractal:tiles[:...]           the tile lane: stream, replies, cache, counters (tile_queue.h)
//   fractal:metrics               hash of render counters and histograms (metrics_store.h)
//   fractal:workers               hash worker -> last heartbeat (metrics_store.h)
//   fractal:rate:<unix second>    hash of renders/iterations in that second, expires (metrics_store.h)
//   fractal:auth:revoked:<jti>    revoked token until it expires (server/auth_stores.h)
//   fractal:auth:signin:<user>    failed sign-ins in the window (auth/lockout.h's key_prefix)
#pragma once

#include <string_view>

namespace fractal::storage::keys {

inline constexpr std::string_view kTaskStream = "fractal:tasks";
inline constexpr std::string_view kTaskGroup = "renderers";
inline constexpr std::string_view kDeadStream = "fractal:tasks:dead";
inline constexpr std::string_view kTilePrefix = "fractal:tiles";
inline constexpr std::string_view kTileGroup = "tile-renderers";
inline constexpr std::string_view kMetricsHash = "fractal:metrics";
inline constexpr std::string_view kWorkersHash = "fractal:workers";
inline constexpr std::string_view kRatePrefix = "fractal:rate:";
inline constexpr std::string_view kRevokedPrefix = "fractal:auth:revoked:";
inline constexpr std::string_view kSignInPrefix = "fractal:auth:signin:";

}  // namespace fractal::storage::keys
