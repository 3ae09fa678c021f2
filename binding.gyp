# The gguf-debias addon against node-llama-cpp's prebuilt llama.cpp libraries: the default build, driven
# by node-gyp from vendor/build.mjs. Builds from llama.cpp source (GGUF_DEBIAS_LLAMA=source, any
# GGUF_DEBIAS_CMAKE_ARGS, GPU backends) use CMakeLists.txt instead. Nothing here is a path: sources come
# from vendor/sources.json (which CMakeLists.txt also reads), headers and libraries from
# vendor/gyp-paths.mjs, which finds them as vendor/build.mjs does.
{
  "targets": [
    {
      "target_name": "gguf_debias",
      "sources": ["<!@(node vendor/gyp-paths.mjs sources)"],
      "include_dirs": ["<!@(node vendor/gyp-paths.mjs includes)"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NDEBUG",
        "GGUF_DEBIAS_LLAMA_MODE=\"prebuilt\"",
        "GGUF_DEBIAS_LLAMA_COMMIT=\"<!(node vendor/gyp-paths.mjs commit)\""
      ],
      # Node's common.gypi turns off C++ exceptions and RTTI; the addon (and CMake's build) use both.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      # Linked by path: the libraries carry versioned names (libllama.v0.4.0.so). Copies go beside the
      # addon, which finds them through its $ORIGIN rpath wherever node_modules moves.
      "libraries": ["<!@(node vendor/gyp-paths.mjs libraries)"],
      "copies": [{ "destination": "<(PRODUCT_DIR)", "files": ["<!@(node vendor/gyp-paths.mjs libraries)"] }],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "GCC_ENABLE_CPP_RTTI": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_LDFLAGS": ["-Wl,-rpath,@loader_path"]
          }
        }, {
          "ldflags": ["-Wl,-rpath,'$$ORIGIN'"]
        }]
      ]
    }
  ]
}
