# Fuzz targets for text inputs: tokenizer encode/decode, tokenizer.json, chat templates,
# safetensors headers, config.json mapping.
moe_fuzz_target(tokenizer_fuzz tokenizer_fuzz.cc)
target_link_libraries(tokenizer_fuzz PRIVATE moe_tokenizer)
target_compile_definitions(tokenizer_fuzz PRIVATE MOE_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
moe_fuzz_target(tokenizer_json_fuzz tokenizer_json_fuzz.cc)
target_link_libraries(tokenizer_json_fuzz PRIVATE moe_tokenizer)
moe_fuzz_target(template_fuzz template_fuzz.cc)
target_link_libraries(template_fuzz PRIVATE moe_chat_template)
moe_fuzz_target(safetensors_fuzz safetensors_fuzz.cc)
target_link_libraries(safetensors_fuzz PRIVATE moe_io)
moe_fuzz_target(hf_config_fuzz hf_config_fuzz.cc)
target_link_libraries(hf_config_fuzz PRIVATE moe_model)
