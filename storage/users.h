// Accounts. Usernames are unique case-insensitively (the database enforces it
// through users.username_lower); the password hash is opaque here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "storage/pg_pool.h"
#include "storage/timestamp.h"

namespace fractal::storage {

struct UserRecord {
  std::string id;             // canonical UUID
  std::string username;       // as signed up (case kept)
  std::string password_hash;  // e.g. an Argon2id encoded string
  Timestamp created_at;
};

enum class UserCreateStatus { created, username_taken };

struct UserCreateResult {
  UserCreateStatus status;
  std::optional<UserRecord> user;  // set when created
};

class UserRepo {
 public:
  explicit UserRepo(PgPool& pool) : pool_(pool) {}

  // username_taken when another user has the same name in any letter case;
  // decided by the unique index, so concurrent sign-ups cannot both win.
  [[nodiscard]] UserCreateResult create(std::string_view username, std::string_view password_hash);
  std::optional<UserRecord> find_by_username(std::string_view username);  // case-insensitive
  std::optional<UserRecord> find_by_id(std::string_view id);              // nullopt for a malformed id
  // Replaces the stored hash when it is still `old_hash` (a concurrent change
  // wins); true when replaced. For re-hashing with stronger parameters at sign-in.
  bool replace_password_hash(std::string_view id, std::string_view old_hash, std::string_view new_hash);

 private:
  PgPool& pool_;
};

}  // namespace fractal::storage
