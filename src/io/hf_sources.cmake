# Hugging Face checkpoints: safetensors files and sharded folders (JSON headers, index).
target_sources(moe_io PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_folder.cc)
target_link_libraries(moe_io PUBLIC nlohmann_json::nlohmann_json)
