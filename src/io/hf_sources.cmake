# Hugging Face checkpoints: safetensors files and sharded folders (JSON headers, index), and
# the safetensors writer `moe synth --format hf` uses.
target_sources(moe_io PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_folder.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_writer.cc)
target_link_libraries(moe_io PUBLIC nlohmann_json::nlohmann_json)
