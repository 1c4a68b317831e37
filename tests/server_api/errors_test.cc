// ErrorBody: the OpenAI error shape, null param/code, every constructor's status and type.
#include "server/api/errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace moe {
namespace {

TEST(ErrorBody, OpenAiShapeWithParam) {
  EXPECT_EQ(
      ErrorBody(InvalidRequest("temperature", "bad \"value\"")),
      R"({"error":{"message":"bad \"value\"","type":"invalid_request_error","param":"temperature","code":null}})");
}

TEST(ErrorBody, EmptyParamAndCodeAreNull) {
  EXPECT_EQ(ErrorBody(ServerError("boom")),
            R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})");
}

TEST(ErrorBody, InvalidUtf8InMessageIsReplacedNotThrown) {
  std::string body = ErrorBody(InvalidRequest("", "bad \xC3"));
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["error"]["message"], "bad \xEF\xBF\xBD");  // U+FFFD
}

TEST(ApiErrors, StatusAndTypePerClass) {
  struct Case {
    ApiError e;
    int status;
    const char* type;
    const char* code;
  };
  const Case cases[] = {
      {InvalidRequest("p", "m"), 400, "invalid_request_error", ""},
      {AuthenticationError("m"), 401, "authentication_error", "invalid_api_key"},
      {PermissionError("m"), 403, "permission_error", ""},
      {NotFound("m", "model", "model_not_found"), 404, "not_found_error", "model_not_found"},
      {RequestTooLarge("", "m"), 413, "request_too_large", ""},
      {ServerError("m"), 500, "server_error", ""},
      {NotImplemented("m"), 501, "not_supported_error", ""},
      {Overloaded("m"), 503, "overloaded_error", "overloaded"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.e.http_status, c.status) << c.type;
    EXPECT_EQ(c.e.type, c.type);
    EXPECT_EQ(c.e.code, c.code) << c.type;
    auto j = nlohmann::json::parse(ErrorBody(c.e));
    EXPECT_EQ(j["error"]["type"], c.type);
    EXPECT_EQ(j["error"]["message"], "m");
  }
  EXPECT_EQ(NotFound("m", "model", "model_not_found").param, "model");
}

}  // namespace
}  // namespace moe
