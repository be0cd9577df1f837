# cmake -P helper for Embed.cmake. Raw string literals keep the files byte-exact.
set(delim "meshfed_embed")
if(MODE STREQUAL "file")
  file(READ ${INPUTS} content)
  string(REPLACE "::" ";" parts "${SYMBOL}")
  list(POP_BACK parts name)
  list(JOIN parts "::" ns)
  file(WRITE ${OUT} "#include <string_view>\nnamespace ${ns} {\nextern const std::string_view ${name};\n"
                    "const std::string_view ${name} = R\"${delim}(${content})${delim}\";\n}\n")
elseif(MODE STREQUAL "migrations")
  string(REPLACE "|" ";" inputs "${INPUTS}")
  set(body "")
  foreach(f ${inputs})
    get_filename_component(name ${f} NAME)
    file(READ ${f} content)
    string(APPEND body "  {\"${name}\", R\"${delim}(${content})${delim}\"},\n")
  endforeach()
  file(WRITE ${OUT} "#include \"meshfed/store/migrations.hpp\"\nnamespace meshfed::store {\n"
                    "const std::vector<Migration>& ${FUNCTION}() {\n"
                    "  static const std::vector<Migration> all = {\n${body}  };\n  return all;\n}\n}\n")
endif()
