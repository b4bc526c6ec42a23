# The web UI (ui/, Vite + TypeScript + Preact) built and compiled into `hodos`: cmake/build_ui.mjs
# type-checks and bundles it, then writes a .cc holding every file of the bundle, which becomes the
# hodos_ui_assets library. It reruns only when a file of ui/ (outside node_modules) changes.
# Node.js and ui/node_modules come from `make setup`; the build never downloads anything.
find_program(NODE_EXECUTABLE NAMES node nodejs)
if(NOT NODE_EXECUTABLE)
  message(FATAL_ERROR "Building the web UI needs Node.js (node and npm), which is not installed: "
                      "run `make setup` (it installs nodejs and npm, and runs `npm ci` in ui/).")
endif()

set(HODOS_UI_DIR ${CMAKE_SOURCE_DIR}/ui)
set(HODOS_UI_DIST ${CMAKE_BINARY_DIR}/ui-dist)
set(HODOS_UI_CC ${CMAKE_BINARY_DIR}/generated/ui_assets_data.cc)
file(GLOB_RECURSE HODOS_UI_SOURCES CONFIGURE_DEPENDS
     ${HODOS_UI_DIR}/src/* ${HODOS_UI_DIR}/public/*)
list(APPEND HODOS_UI_SOURCES ${HODOS_UI_DIR}/index.html ${HODOS_UI_DIR}/package-lock.json
     ${HODOS_UI_DIR}/tsconfig.json ${HODOS_UI_DIR}/vite.config.ts ${CMAKE_SOURCE_DIR}/cmake/build_ui.mjs)
list(FILTER HODOS_UI_SOURCES EXCLUDE REGEX "\\.test\\.ts$")

add_custom_command(
  OUTPUT ${HODOS_UI_CC}
  COMMAND ${NODE_EXECUTABLE} ${CMAKE_SOURCE_DIR}/cmake/build_ui.mjs ${HODOS_UI_DIR} ${HODOS_UI_DIST} ${HODOS_UI_CC}
  DEPENDS ${HODOS_UI_SOURCES}
  COMMENT "Building the web UI (tsc + vite) and embedding it"
  VERBATIM)
add_library(hodos_ui_assets STATIC ${HODOS_UI_CC})
target_include_directories(hodos_ui_assets PRIVATE ${CMAKE_SOURCE_DIR}/src)

# The UI's own unit tests (Vitest): trace-tree building, formatting, search URLs.
add_test(NAME ui.unit COMMAND ${NODE_EXECUTABLE} node_modules/vitest/vitest.mjs run --reporter=dot
         WORKING_DIRECTORY ${HODOS_UI_DIR})
set_tests_properties(ui.unit PROPERTIES LABELS ui TIMEOUT 120)
