// OpenAI-shaped API errors: the HTTP status plus the JSON body every route answers with
// when it refuses a request. Bodies follow OpenAI's shape:
//   {"error":{"message":"...","type":"invalid_request_error","param":"temperature","code":null}}
#pragma once

#include <string>

namespace moe {

struct ApiError {
  int http_status = 500;
  std::string type;     // "invalid_request_error", "not_found_error", ...
  std::string message;  // says what failed, expected versus found
  std::string param;    // the offending field ("messages[2].role"); empty -> null
  std::string code;     // machine-readable detail ("model_not_found"); empty -> null
};

// The JSON body for `e`. Never throws: invalid UTF-8 in the message is replaced.
std::string ErrorBody(const ApiError& e);

// Constructors for the error classes the server uses (status, type):
ApiError InvalidRequest(std::string param, std::string message);   // 400 invalid_request_error
ApiError RequestTooLarge(std::string param, std::string message);  // 413 request_too_large
ApiError AuthenticationError(std::string message);                 // 401 authentication_error, code invalid_api_key
ApiError PermissionError(std::string message);                     // 403 permission_error
ApiError NotFound(std::string message, std::string param = "",
                  std::string code = "");      // 404 not_found_error
ApiError ServerError(std::string message);     // 500 server_error
ApiError NotImplemented(std::string message);  // 501 not_supported_error
ApiError Overloaded(std::string message);      // 503 overloaded_error, code overloaded

}  // namespace moe
