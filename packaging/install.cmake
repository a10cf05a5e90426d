# Install rules (GNUInstallDirs) and the Debian package (CPack DEB). Included by CMakeLists.txt.
#   cmake --install build [--prefix P]     or     make install PREFIX=/usr/local [DESTDIR=...]
#   make deb                               (CMAKE_INSTALL_PREFIX=/usr, then cpack -G DEB)
# The tree: bin/iobound, etc/iobound/iobound.ini, lib/systemd/system/iobound.service,
# share/man/man1/iobound.1.gz, etc/logrotate.d/iobound, share/doc/iobound/. With prefix /usr
# the config files go to /etc (GNUInstallDirs' rule), as Debian wants.
include(GNUInstallDirs)

# --- the man page, from its one scdoc source, gzipped as Debian ships man pages.
find_program(SCDOC scdoc)
if(NOT SCDOC)
  message(FATAL_ERROR "scdoc not found: install the Debian package scdoc (make deps-build)")
endif()
set(IOB_MAN_SOURCE ${PROJECT_SOURCE_DIR}/doc/iobound.1.scd)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/iobound.1 ${PROJECT_BINARY_DIR}/iobound.1.gz
  COMMAND sh -c "${SCDOC} < '${IOB_MAN_SOURCE}' > iobound.1 && gzip -9n -c iobound.1 > iobound.1.gz"
  DEPENDS ${IOB_MAN_SOURCE} WORKING_DIRECTORY ${PROJECT_BINARY_DIR} VERBATIM
  COMMENT "scdoc: iobound(1)")
add_custom_target(iob_man ALL DEPENDS ${PROJECT_BINARY_DIR}/iobound.1.gz)

# --- the systemd unit names the binary and the config file: rewritten for this prefix.
set(IOB_UNIT_SOURCE ${PROJECT_SOURCE_DIR}/docker/iobound.service)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${IOB_UNIT_SOURCE})
file(READ ${IOB_UNIT_SOURCE} unit)
string(REPLACE "/usr/bin/iobound" "${CMAKE_INSTALL_FULL_BINDIR}/iobound" unit "${unit}")
string(REPLACE "/etc/" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/" unit "${unit}")
file(WRITE ${PROJECT_BINARY_DIR}/iobound.service "${unit}")
# Relative to the prefix, not CMAKE_INSTALL_LIBDIR (which is lib/<multiarch> on Debian):
# systemd reads /usr/lib/systemd/system and /usr/local/lib/systemd/system.
set(IOB_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING "systemd unit directory, under the prefix")

install(TARGETS iobound RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES config/iobound.ini DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/iobound)
install(FILES packaging/iobound.logrotate DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d
        RENAME iobound)
install(FILES ${PROJECT_BINARY_DIR}/iobound.service DESTINATION ${IOB_SYSTEMD_UNITDIR})
install(FILES ${PROJECT_BINARY_DIR}/iobound.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES README.md docker/prometheus/iobound.rules.yml DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- the Debian package. Depends come from dpkg-shlibdeps over the binary (libc, libevent,
# inih) plus passwd for postinst's useradd; the config and the logrotate snippet are conffiles.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iobound)
set(CPACK_PACKAGE_CONTACT "iobound maintainers <iobound@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "HTTP/1.1 server showing evented vs threaded concurrency")
set(CPACK_PACKAGE_DESCRIPTION
    "One binary that serves the same endpoints under an event loop or a thread per connection,\nto load-test and compare the two concurrency models.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(conffiles ${PROJECT_BINARY_DIR}/deb/conffiles)
file(WRITE ${conffiles} "${CMAKE_INSTALL_FULL_SYSCONFDIR}/iobound/iobound.ini\n"
                        "${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d/iobound\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${conffiles} ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON) # the debug info stays in the build tree
include(CPack)
