# Turns repository files into C++ sources at build time, so the binary carries its own
# schema migrations, OpenAPI document and approval console.

# Runs cmake/EmbedScript.cmake in `mode` over `inputs` (sorted, passed as one '|'-joined
# argument) whenever one of them changes; further arguments are the mode's -D settings.
function(meshfed_embed out mode inputs)
  list(SORT inputs)
  string(REPLACE ";" "|" joined "${inputs}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DOUT=${out} "-DINPUTS=${joined}" ${ARGN}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${inputs} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    VERBATIM)
endfunction()

# One file as a std::string_view named `symbol` (with its namespace).
function(meshfed_embed_file out input symbol)
  meshfed_embed(${out} file "${input}" -DSYMBOL=${symbol})
endfunction()

# `function`: the C++ function that returns them, e.g. embedded_migrations.
function(meshfed_embed_migrations out function)
  meshfed_embed(${out} migrations "${ARGN}" -DFUNCTION=${function})
endfunction()

# The console's files under `dir`, served as /ui/<name> (meshfed/console/assets.hpp).
function(meshfed_embed_assets out dir)
  meshfed_embed(${out} assets "${ARGN}" -DDIR=${dir})
endfunction()
