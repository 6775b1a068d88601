/* version.h -- the release of this source tree, in one place: every binary's --version,
 * /healthz, `aifctl version` and the Server header's product token read it, and
 * CHANGELOG.md's newest entry names the same number (make check-layers compares). */
#ifndef AIF_VERSION_H
#define AIF_VERSION_H

#define AIF_VERSION		"0.22.0"
#define AIF_SERVER_TOKEN	"aif/" AIF_VERSION

#endif
