// ErrorBody and the ApiError constructors.
#include "server/api/errors.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace moe {

std::string ErrorBody(const ApiError& e) {
  nlohmann::ordered_json error = {{"message", e.message}, {"type", e.type}};
  error["param"] = e.param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.param);
  error["code"] = e.code.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.code);
  nlohmann::ordered_json body = {{"error", std::move(error)}};
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ApiError InvalidRequest(std::string param, std::string message) {
  return {400, "invalid_request_error", std::move(message), std::move(param), ""};
}
ApiError RequestTooLarge(std::string param, std::string message) {
  return {413, "request_too_large", std::move(message), std::move(param), ""};
}
ApiError AuthenticationError(std::string message) {
  return {401, "authentication_error", std::move(message), "", "invalid_api_key"};
}
ApiError PermissionError(std::string message) { return {403, "permission_error", std::move(message), "", ""}; }
ApiError NotFound(std::string message, std::string param, std::string code) {
  return {404, "not_found_error", std::move(message), std::move(param), std::move(code)};
}
ApiError ServerError(std::string message) { return {500, "server_error", std::move(message), "", ""}; }
ApiError NotImplemented(std::string message) { return {501, "not_supported_error", std::move(message), "", ""}; }
ApiError Overloaded(std::string message) { return {503, "overloaded_error", std::move(message), "", "overloaded"}; }

}  // namespace moe
