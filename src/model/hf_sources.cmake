# Hugging Face model folders: config.json mapping, tensor renames, the folder loader.
target_sources(moe_model PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/hf_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_tensor_names.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_checkpoint.cc)
