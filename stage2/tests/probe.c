/* The in-rootfs probe for stage2's launch test: prints what the launched app sees, one
 * `key=value` per line. Built statically at test time; argv[1] is a host path that must NOT be
 * reachable from inside the app root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void status_lines(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[512];
    if (!f) { printf("status=unreadable\n"); return; }
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs:", 11)) {
            char *tab = strchr(line, '\t');
            if (tab && tab > line && tab[-1] == ':') { tab[-1] = 0; printf("%s=%s", line, tab + 1 + strspn(tab + 1, " \t")); }
        }
    }
    fclose(f);
}

static void fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d) { printf("fds=unreadable\n"); return; }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        printf("fd=%s\n", e->d_name);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    gid_t groups[64];
    char cwd[4096];
    int n = getgroups(64, groups), fd;
    printf("uid=%d\ngid=%d\ngroups=", (int)getuid(), (int)getgid());
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)groups[i]);
    printf("\ncwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "error");
    status_lines();
    fds();
    for (char **e = environ; *e; e++) printf("env=%s\n", *e);
    printf("dotdot_sentinel=%s\n", access("/../sentinel", F_OK) == 0 ? "yes" : "no");
    printf("host_sentinel=%s\n", argc > 1 && access(argv[1], F_OK) == 0 ? "yes" : "no");
    fd = open("probe-write-test", O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) { printf("writable=yes\n"); close(fd); unlink("probe-write-test"); }
    else printf("writable=errno%d\n", errno);
    return 0;
}
