/* The pod sandbox's process: holds the pod's namespaces open and does nothing else. Kubernetes' own pause
 * image cannot be pulled here, so this one is built from source (static, in an image FROM scratch). */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void leave(int signal_number) {
    (void)signal_number;
    _exit(0);
}

static void reap(int signal_number) {
    (void)signal_number;
}

int main(void) {
    struct sigaction on_stop = {.sa_handler = leave};
    struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDWAIT};
    sigaction(SIGINT, &on_stop, NULL);
    sigaction(SIGTERM, &on_stop, NULL);
    /* PID 1 of a shared process namespace must not leave zombies behind. */
    sigaction(SIGCHLD, &on_child, NULL);
    for (;;)
        pause();
    return EXIT_FAILURE;
}
