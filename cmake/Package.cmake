# What `cmake --install` puts where, and the Debian package CPack makes of it
# (`cmake --build BUILD --target package`, or `cpack -G DEB` in BUILD). Every destination is
# relative, so the package's layout never depends on how the build folder was first configured:
# CPack lays it out under /usr (CPACK_PACKAGING_INSTALL_PREFIX), `cmake --install` under
# CMAKE_INSTALL_PREFIX.
include(GNUInstallDirs)

install(TARGETS meshfed RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# systemd: the units, the meshfed user (sysusers.d) and /etc/meshfed root:meshfed 0750
# (tmpfiles.d). Under /usr/lib, which Debian 12's merged /usr also shows as /lib.
install(FILES systemd/meshfed@.service systemd/meshfed-ingress@.service systemd/meshfed-egress@.service
        DESTINATION lib/systemd/system)
install(FILES systemd/meshfed.sysusers DESTINATION lib/sysusers.d RENAME meshfed.conf)
install(FILES systemd/meshfed.tmpfiles DESTINATION lib/tmpfiles.d RENAME meshfed.conf)

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES cmake/deb/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(DIRECTORY config/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# meshfed(1) and the bash completion come from the binary itself, so they match its CLI. Not
# in a sanitizer build, whose binary is for tests (and whose leak checker would fail the run).
find_program(HELP2MAN help2man)
if(MESHFED_SANITIZE)
  return()
endif()
if(HELP2MAN)
  # Gzipped without a name or time stamp (gzip -n), as Debian policy asks of man pages.
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/meshfed.1.gz
                     COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh $<TARGET_FILE:meshfed> ${CMAKE_BINARY_DIR}/meshfed.1
                     COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/meshfed.1
                     DEPENDS meshfed ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh
                     COMMENT "meshfed(1) from the CLI's help")
  add_custom_target(meshfed_man ALL DEPENDS ${CMAKE_BINARY_DIR}/meshfed.1.gz)
  install(FILES ${CMAKE_BINARY_DIR}/meshfed.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man page (apt-get install help2man)")
endif()
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/meshfed.bash-completion
                   COMMAND $<TARGET_FILE:meshfed> completion bash > ${CMAKE_BINARY_DIR}/meshfed.bash-completion
                   DEPENDS meshfed
                   COMMENT "bash completion from the CLI")
add_custom_target(meshfed_completion ALL DEPENDS ${CMAKE_BINARY_DIR}/meshfed.bash-completion)
install(FILES ${CMAKE_BINARY_DIR}/meshfed.bash-completion DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME meshfed)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_NAME meshfed)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "meshfed maintainers <meshfed@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "federation broker for shared-nothing service meshes")
set(CPACK_PACKAGE_DESCRIPTION "One meshfed broker per security domain exchanges approved exports with its peers over mutually authenticated TLS, turns imports into Kuma MeshExternalServices, and runs the egress and ingress gateways traffic crosses by.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # meshfed_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/deb/postinst ${PROJECT_SOURCE_DIR}/cmake/deb/prerm ${PROJECT_SOURCE_DIR}/cmake/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
