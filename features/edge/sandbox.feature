Feature: Jobs run in a locked-down Podman sandbox
  The edge node runs every script or commands job in its own container: no network, no
  capabilities, a non-root user, a read-only root with a writable /workspace, and memory,
  CPU, pids and time limits. stdout and stderr come back separately, each cut at 256 KiB.

  Background:
    Given an edge node is running
    And a user "alice" who is logged in

  Scenario: A commands task runs and its output comes back
    When "alice" runs the commands:
      | echo hello          |
      | echo to-stderr >&2  |
    Then the task completes
    And its stdout is "hello\n"
    And its stderr is "to-stderr\n"
    And its logs show stdout "hello\n"

  Scenario: Commands stop at the first failure, and the result says which failed
    When "alice" runs the commands:
      | echo one    |
      | exit 3      |
      | echo three  |
    Then the task fails
    And its exit code is 3
    And the failed command is 2
    And its stdout is "one\n"

  Scenario: A script task runs under its interpreter
    When "alice" runs the script:
      """
      #!/bin/sh
      set -e
      echo "script as $(id -u) in $(pwd)"
      """
    Then the task completes
    And its stdout is "script as 1000 in /workspace\n"

  Scenario: The sandbox runs unprivileged on a read-only root
    When "alice" runs the commands:
      | id -u                                                  |
      | touch /etc/owned 2>/dev/null \|\| echo read-only-root   |
      | echo kept > /workspace/file && cat /workspace/file     |
      | grep CapEff /proc/self/status                          |
    Then the task completes
    And its stdout contains "1000"
    And its stdout contains "read-only-root"
    And its stdout contains "kept"
    And its stdout contains "CapEff:\t0000000000000000"

  Scenario: Jobs start in warm sandboxes, each used for one job and then removed, leaving nothing to the next
    When "alice" runs the commands:
      | echo left > /workspace/left && echo left > /tmp/left && echo left > /dev/shm/left |
      | echo "job $CYNODE_JOB_ID" |
    Then the task completes
    And its stdout contains "job job_"
    And the node ran it in a warm sandbox, which is gone
    When "alice" runs the commands:
      | ls -A /workspace /tmp /dev/shm |
      | ls -A /job |
    Then the task completes
    And the node ran it in a warm sandbox, which is gone
    And its stdout does not contain "left"
    And no warm sandbox ran more than one job

  Scenario: A job that runs past its timeout is stopped
    When "alice" runs the commands with a timeout of 2 seconds:
      | echo started; sleep 30; echo never |
    Then the task fails
    And the job status is "timeout"
    And the job error mentions "timed out"
    And its stdout is "started\n"

  Scenario: Output over 256 KiB is cut on a UTF-8 boundary
    When "alice" runs the commands:
      | printf x; yes é \| tr -d '\n' \| head -c 400000 |
    Then the task completes
    And its stdout is marked truncated
    And its stdout is 262143 bytes of valid UTF-8 ending in "é"
    And its stderr is not marked truncated

  Scenario Outline: Output of any bytes completes, and its exact bytes can be downloaded
    When "alice" runs the commands:
      | python3 -c 'import sys; sys.stdout.buffer.write(bytes([<byte>]) * <count>)' |
    Then the task completes
    And its stdout is marked truncated
    And its stdout is valid UTF-8 that fits 262144 bytes as JSON
    And downloading its stdout gives <count> bytes of <byte>

    Examples: invalid UTF-8, NUL bytes, control characters, one very long line
      | byte | count   |
      | 255  | 200000  |
      | 0    | 300000  |
      | 1    | 262144  |
      | 120  | 1000000 |

  Scenario: The job sees no host environment, its uid is no host user's, and scratch space is sized
    When "alice" runs the commands:
      | env                                  |
      | cat /proc/self/uid_map               |
      | df -k /tmp /run /dev/shm \| tail -n 3 |
    Then the task completes
    And its stdout does not contain "proxy.invalid"
    And its user namespace maps root to host uid 100000 or above
    And its stdout contains "65536"
    And its stdout contains "16384"

  Scenario: A job runs in an image it names, and only a node that allows the image takes it
    When "alice" runs the commands in the image "localhost/cynode-sandbox:alt":
      | echo alt-image |
    Then the task completes
    And its stdout is "alt-image\n"
    When "alice" runs the commands in the image "localhost/not-allowed:1":
      | true |
    Then after 8 seconds the task is still queued

  Scenario Outline: The sandbox has no network
    When "alice" runs the commands:
      | echo GET / \| nc -w 3 <host> <port> |
    Then the task fails
    And its stderr mentions "<error>"

    Examples:
      | host          | port           | error                  |
      | 127.0.0.1     | {gateway-port} | Connection refused     |
      | 1.1.1.1       | 80             | Network is unreachable |

  Scenario: A job that exhausts its memory is stopped
    When "alice" runs the commands:
      | x=$(head -c 200000000 /dev/zero \| tr '\\0' a); echo survived |
    Then the task fails
    And its exit code is 137
    And the job error mentions "memory limit"
    And its stdout is ""

  Scenario: A job that forks without bound hits the pids limit
    When "alice" runs the commands:
      | i=0; while [ $i -lt 1000 ]; do sleep 60 & i=$((i+1)); done; echo spawned $i |
    Then the task fails
    And its stderr mentions "Cannot fork"
    And its stdout is ""

  Scenario: Attachments are readable by the job, read-only
    When "alice" attaches "notes.txt" with content "remember the milk\n" and runs the commands:
      | cat /job/attachments/notes.txt                              |
      | echo x >> /job/attachments/notes.txt 2>/dev/null \|\| echo read-only |
    Then the task completes
    And its stdout is "remember the milk\nread-only\n"

  Scenario: A job's log lines reach a reader while it runs, each once
    When "alice" runs the commands:
      | for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 1; done; echo finished >&2 |
    Then the live log shows "tick 1" while the task is still running
    And the task completes
    And the live log read from the start holds its stdout "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\ntick 6\n" once and "finished" on stderr
