#include "storage/users.h"

#include "storage/uuid.h"

namespace fractal::storage {
namespace {

constexpr const char* kColumns =
    "id::text, username, password_hash, (extract(epoch FROM created_at) * 1000000)::bigint";

UserRecord to_user(const pqxx::row& r) {
  return UserRecord{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                    from_unix_micros(r[3].as<std::int64_t>())};
}

}  // namespace

UserCreateResult UserRepo::create(std::string_view username, std::string_view password_hash) {
  try {
    return pool_.transact([&](pqxx::work& tx) {
      const pqxx::row r = tx.exec_params1(
          std::string("INSERT INTO users (username, password_hash) VALUES ($1, $2) RETURNING ") + kColumns,
          std::string(username), std::string(password_hash));
      return UserCreateResult{UserCreateStatus::created, to_user(r)};
    });
  } catch (const pqxx::unique_violation&) {
    return UserCreateResult{UserCreateStatus::username_taken, std::nullopt};
  }
}

std::optional<UserRecord> UserRepo::find_by_username(std::string_view username) {
  return pool_.transact([&](pqxx::work& tx) -> std::optional<UserRecord> {
    const pqxx::result r = tx.exec_params(
        std::string("SELECT ") + kColumns + " FROM users WHERE username_lower = lower($1)", std::string(username));
    if (r.empty()) return std::nullopt;
    return to_user(r[0]);
  });
}

std::optional<UserRecord> UserRepo::find_by_id(std::string_view id) {
  if (!is_uuid(id)) return std::nullopt;
  return pool_.transact([&](pqxx::work& tx) -> std::optional<UserRecord> {
    const pqxx::result r =
        tx.exec_params(std::string("SELECT ") + kColumns + " FROM users WHERE id = $1::uuid", std::string(id));
    if (r.empty()) return std::nullopt;
    return to_user(r[0]);
  });
}

bool UserRepo::replace_password_hash(std::string_view id, std::string_view old_hash, std::string_view new_hash) {
  return pool_.transact([&](pqxx::work& tx) {
    return tx.exec_params("UPDATE users SET password_hash = $3 WHERE id = $1::uuid AND password_hash = $2",
                          std::string(id), std::string(old_hash), std::string(new_hash))
               .affected_rows() == 1;
  });
}

}  // namespace fractal::storage
