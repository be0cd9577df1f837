# Turns repository files into C++ sources at build time, so the binary carries its own
# schema migrations, OpenAPI document and approval console.

function(meshfed_embed_file out input symbol)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMODE=file -DOUT=${out} -DSYMBOL=${symbol} -DINPUTS=${input}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    VERBATIM)
endfunction()

# `function`: the C++ function that returns them, e.g. embedded_migrations.
function(meshfed_embed_migrations out function)
  set(inputs ${ARGN})
  list(SORT inputs)
  string(REPLACE ";" "|" joined "${inputs}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMODE=migrations -DOUT=${out} -DFUNCTION=${function} "-DINPUTS=${joined}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${inputs} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    VERBATIM)
endfunction()

# The console's files under `dir`, served as /ui/<name> (meshfed/console/assets.hpp).
function(meshfed_embed_assets out dir)
  set(inputs ${ARGN})
  list(SORT inputs)
  string(REPLACE ";" "|" joined "${inputs}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMODE=assets -DOUT=${out} -DDIR=${dir} "-DINPUTS=${joined}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${inputs} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    VERBATIM)
endfunction()
