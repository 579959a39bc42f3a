// GET /download: states, exact bytes and headers, large files.
#include <random>

#include "storage/tasks.h"
#include "tests/server/server_test_env.h"

namespace fractal::server::testing {
namespace {

std::string random_bytes(std::size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(Download, QueuedOrRunningIs409NotReady) {
  const User u = new_user("dl");
  const json t = add_task(u);
  const std::string id = t["id"];
  expect_error(get("/download?id=" + id, u.token), 409, "not_ready");
  storage::TaskRepo repo(pool());
  ASSERT_EQ(repo.mark_running(id, "w", "cpu:test x1").status, storage::ClaimStatus::claimed);
  expect_error(get("/download?id=" + id, u.token), 409, "not_ready");
}

TEST(Download, DoneStreamsTheExactFileWithHeaders) {
  const User u = new_user("dl");
  const json t = add_task(u);
  const std::string id = t["id"];
  const std::string bytes = random_bytes(100'003);
  finish_task(id, "png", bytes);
  const json after = get("/tasks/" + id, u.token).j;
  EXPECT_EQ(after["status"], "done");
  EXPECT_EQ(after["download_url"], "/download?id=" + id);
  EXPECT_EQ(after["backend"], "cpu:test x1");
  EXPECT_EQ(after["iterations"], 12345);
  EXPECT_EQ(after["render_ms"], 7);
  EXPECT_EQ(after["progress"], 1.0);

  const Response r = get(after["download_url"], u.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), bytes.size());
  EXPECT_TRUE(r.body == bytes);
  EXPECT_EQ(r.header("Content-Type"), "image/png");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(bytes.size()));
  EXPECT_EQ(r.header("Content-Disposition"), "attachment; filename=\"" + id + ".png\"");
}

TEST(Download, ContentTypePerFormat) {
  const User u = new_user("dl");
  const std::vector<std::tuple<json, std::string, std::string>> cases = {
      {{{"format", "jpg"}}, "jpg", "image/jpeg"},
      {{{"format", "tiff"}}, "tiff", "image/tiff"},
      {{{"format", "exr"}}, "exr", "image/x-exr"},
      {{{"output", "iterations"}, {"format", "exr"}}, "exr", "image/x-exr"},
  };
  for (const auto& [extra, ext, type] : cases) {
    SCOPED_TRACE(type);
    json body = small_task();
    body.update(extra);
    const std::string id = add_task(u, body)["id"];
    finish_task(id, ext, "file-" + ext);
    const Response r = get("/download?id=" + id, u.token);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "file-" + ext);
    EXPECT_EQ(r.header("Content-Type"), type);
    EXPECT_EQ(r.header("Content-Disposition"), "attachment; filename=\"" + id + "." + ext + "\"");
  }
}

TEST(Download, ServesTheFileTheWorkerRecorded) {
  // The task asked for png, but the record names a jpg: the download serves
  // what was recorded, not what the parameters would name.
  const User u = new_user("dl");
  const std::string id = add_task(u)["id"];
  finish_task(id, "jpg", "recorded-jpg");
  const Response r = get("/download?id=" + id, u.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "recorded-jpg");
  EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(r.header("Content-Disposition"), "attachment; filename=\"" + id + ".jpg\"");
}

TEST(Download, ARecordNamingAnotherFileServesNothing) {
  const User u = new_user("dl");
  const std::string other = add_task(u)["id"];
  finish_task(other, "png", "other task's file");
  for (const std::string name : {other + ".png", std::string("../../etc/passwd"), std::string("x.png")}) {
    SCOPED_TRACE(name);
    const std::string id = add_task(u)["id"];
    storage::TaskRepo tasks(pool());
    ASSERT_EQ(tasks.mark_running(id, "test-worker", "cpu:test x1").status, storage::ClaimStatus::claimed);
    storage::RenderOutcome outcome;
    outcome.backend = "cpu:test x1";
    outcome.precision_used = "double";
    outcome.file_path = name;
    ASSERT_TRUE(tasks.mark_done(id, outcome));
    expect_error(get("/download?id=" + id, u.token), 500, "file_missing");
  }
}

TEST(Download, LargeFileIsStreamedIntact) {
  const User u = new_user("dl");
  const std::string id = add_task(u)["id"];
  const std::string bytes = random_bytes(24 * 1024 * 1024 + 7);
  finish_task(id, "png", bytes);
  const Response r = get("/download?id=" + id, u.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(bytes.size()));
  EXPECT_TRUE(r.body == bytes);
}

TEST(Download, FailedAndCanceledAre410) {
  const User u = new_user("dl");
  storage::TaskRepo repo(pool());
  const std::string failed = add_task(u)["id"];
  ASSERT_TRUE(repo.mark_failed(failed, "out of memory"));
  const Response f = get("/download?id=" + failed, u.token);
  expect_error(f, 410, "failed");
  EXPECT_NE(f.j["error"]["message"].get<std::string>().find("out of memory"), std::string::npos);
  EXPECT_EQ(get("/tasks/" + failed, u.token).j["error"], "out of memory");
  const std::string canceled = add_task(u)["id"];
  ASSERT_TRUE(repo.mark_canceled(canceled));
  expect_error(get("/download?id=" + canceled, u.token), 410, "canceled");
}

TEST(Download, MissingUnknownOrMalformedId) {
  const User u = new_user("dl");
  const Response missing = get("/download", u.token);
  expect_error(missing, 400, "invalid_parameter");
  EXPECT_EQ(missing.j["error"]["field"], "id");
  expect_error(get("/download?id=", u.token), 400, "invalid_parameter");
  expect_error(get("/download?id=00000000-0000-4000-8000-000000000000", u.token), 404, "not_found");
  expect_error(get("/download?id=../../etc/passwd", u.token), 404, "not_found");
  expect_error(get("/download?id=00000000-0000-4000-8000-000000000000&format=png", u.token), 400, "invalid_parameter");
}

}  // namespace
}  // namespace fractal::server::testing
