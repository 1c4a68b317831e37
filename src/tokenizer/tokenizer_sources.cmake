# Tokenizers (byte-level BPE with PCRE2 pre-tokenizers, SentencePiece BPE); included by
# src/tokenizer/CMakeLists.txt.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

add_library(moe_tokenizer STATIC
  ${CMAKE_CURRENT_LIST_DIR}/unicode.cc
  ${CMAKE_CURRENT_LIST_DIR}/pretokenizer.cc
  ${CMAKE_CURRENT_LIST_DIR}/bpe.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_gguf.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_hf.cc
)
target_link_libraries(moe_tokenizer PUBLIC moe_io nlohmann_json::nlohmann_json
                      PRIVATE PkgConfig::PCRE2)
