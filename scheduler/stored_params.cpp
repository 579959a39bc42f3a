#include "scheduler/stored_params.h"

namespace fractal::scheduler {

ParseResult parse_stored_params(const nlohmann::json& stored) {
  if (!stored.is_object()) return parse_task_spec(stored);
  nlohmann::json given = nlohmann::json::object();
  for (const auto& [key, value] : stored.items()) {
    if (!value.is_null()) given[key] = value;
  }
  return parse_task_spec(given);
}

}  // namespace fractal::scheduler
