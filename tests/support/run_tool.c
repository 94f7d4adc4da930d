/* run_tool.c: spawning a built tool and capturing its exit code, stdout and
 * stderr for the CLI test suites (see run_tool.h). The output goes to
 * unlinked temporary files rather than pipes, so a tool that writes a lot to
 * both streams cannot block on a full pipe while we wait for it. */
#include "tests/support/run_tool.h"

#include <criterion/criterion.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Reads the whole of fd from its start into a NUL-terminated string and
 * closes fd. */
static char *slurp_fd(int fd)
{
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    cr_assert(s);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            s = realloc(s, cap);
            cr_assert(s);
        }
        ssize_t r = read(fd, s + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    s[n] = '\0';
    close(fd);
    return s;
}

bn_test_run bn_test_run_tool(const char *path, char *const argv[])
{
    char out_path[] = "/tmp/bn_tool_out_XXXXXX", err_path[] = "/tmp/bn_tool_err_XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0);
    unlink(out_path);
    unlink(err_path);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    cr_assert_eq(rc, 0, "cannot run %s: %s", path, strerror(rc));
    posix_spawn_file_actions_destroy(&fa);
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    bn_test_run r = {WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, slurp_fd(out_fd), slurp_fd(err_fd)};
    return r;
}

void bn_test_run_free(bn_test_run *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}
