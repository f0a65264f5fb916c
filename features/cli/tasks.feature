Feature: cynork tasks
  Every task command takes a task id or a task name. Input files are checked before any
  request: regular, readable, no symlinks or directories, within their size limits.

  Background:
    Given I am logged in

  Scenario: Create a commands task and wait for its result
    When I run "cynork task create --command 'echo hello' --command 'echo bye' --result"
    Then the exit code is 0
    And stdout mentions "status=completed exit_code=0"
    And stdout mentions "stdout=hello\nbye"

  Scenario Outline: Each input mode
    Given a file "<file>" containing "<content>"
    When I run "cynork task create <flags>"
    Then the exit code is 0
    And stdout mentions "<expected>"

    Examples:
      | file      | content                           | flags                                 | expected                     |
      | none      |                                   | -p 'tell me a joke'                   | mode=prompt via=node         |
      | none      |                                   | -t '# Refactor the parser'            | mode=prompt                  |
      | task.md   | Summarize the attached file       | -f task.md                            | mode=prompt                  |
      | run.sh    | #!/bin/sh\necho from-script       | -s run.sh --result                    | stdout=from-script           |
      | cmds.txt  | echo one\n\n   \necho two\n       | --commands-file cmds.txt --result     | stdout=one\ntwo              |
      | data.txt  | attached-bytes                    | --command 'cat /job/attachments/data.txt' -a data.txt --result | stdout=attached-bytes |

  Scenario: The exact bytes of output that is not text can be downloaded
    Given a file "bytes.py" containing "import sys; sys.stdout.buffer.write(bytes([97, 255, 98]))"
    When I run "cynork task create --command 'python3 /job/attachments/bytes.py' -a bytes.py --name raw-bytes --result"
    Then the exit code is 0
    And stdout mentions "truncated=stdout:true"
    When I run "cynork task output raw-bytes --to out.bin"
    Then the exit code is 0
    And the file "out.bin" holds the bytes "61 ff 62"

  Scenario: Names work everywhere an id does
    When I run "cynork task create --command 'echo named' --name 'My Build'"
    Then stdout mentions "task_name=my-build"
    When I run "cynork task result my-build -w"
    Then the exit code is 0
    And stdout mentions "stdout=named"
    When I run "cynork task get my-build"
    Then stdout mentions "status=completed task_name=my-build"

  Scenario Outline: Bad input is refused before any request
    Given a file "big.sh" of 262145 bytes
    And a file "ok.txt" containing "x"
    And a directory "adir"
    And a symlink "link.sh" to "ok.txt"
    When I run "cynork task create <flags>"
    Then the exit code is 2
    And stderr mentions "<message>"

    Examples:
      | flags                                 | message              |
      | -p hi --command ls                    | cannot be used with  |
      | --name lonely                         | required arguments   |
      | -s missing.sh                         | no such file         |
      | -s adir                               | is a directory       |
      | -s link.sh                            | is a symlink         |
      | -s big.sh                             | over the limit       |
      | --command true -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt -a ok.txt | at most 16 |

  Scenario: The gateway's validation errors exit 6
    When I run "cynork task create --command true --name '!!!'"
    Then the exit code is 6
    And stderr mentions "task_name"

  Scenario: Listing with a status, a limit and a cursor
    Given I have created 3 tasks that completed
    When I run "cynork task list -l 2 --status completed"
    Then the exit code is 0
    And stdout has 2 task lines and a next_cursor
    When I run "cynork task list -l 2 --status completed --cursor {next_cursor}"
    Then stdout has 1 task line and no next_cursor
    When I run "cynork task list -l 0"
    Then the exit code is 2

  Scenario: JSON output is exactly one JSON value
    Given I have created 1 task that completed
    When I run "cynork -o json task list"
    Then stdout is exactly one JSON value with a "tasks" list
    When I run "cynork -o json task get nothing-like-this"
    Then the exit code is 4
    And stdout is exactly one JSON value with "error.exit_code" = 4

  Scenario: Quiet create prints only the task id
    When I run "cynork -q task create --command true"
    Then the exit code is 0
    And stdout is one task id

  Scenario: An unknown task is not found
    When I run "cynork task get no-such-task"
    Then the exit code is 4
    When I run "cynork task logs task_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    Then the exit code is 4

  Scenario: Watching a task until it finishes
    When I run "cynork task create --command 'sleep 1; echo watched' --name watch-me"
    And I run "cynork task watch watch-me -n 1 --no-clear"
    Then the exit code is 0
    And the last line of stdout mentions "status=completed"

  Scenario: Canceling asks first, and only y or Y goes ahead
    When I run "cynork task create --command 'sleep 300' --name long-one"
    And I run "cynork task cancel long-one" with stdin "n"
    Then the exit code is 0
    And stderr mentions "Cancel task long-one? [y/N]"
    And the task "long-one" is not canceled
    When I run "cynork task cancel long-one" with stdin "Y"
    Then the exit code is 0
    And stdout mentions "canceled=true status=canceled"

  Scenario: Canceling a finished task is a conflict
    When I run "cynork task create --command true --name done-already --result"
    And I run "cynork task cancel done-already -y"
    Then the exit code is 5
    And stderr mentions "already ended"

  Scenario: Deleting asks first, then the task is gone
    When I run "cynork task create --command true --name short-lived --result"
    And I run "cynork task delete short-lived" with stdin "n"
    Then the exit code is 0
    And stderr mentions "Delete task short-lived and all its output? [y/N]"
    When I run "cynork task get short-lived"
    Then the exit code is 0
    When I run "cynork task delete short-lived -y"
    Then the exit code is 0
    And stdout mentions "deleted=true"
    When I run "cynork task get short-lived"
    Then the exit code is 4
    When I run "cynork task delete short-lived -y"
    Then the exit code is 4

  Scenario: Following a running task's live log prints each line once, then returns when it ends
    When I run "cynork task create --command 'for i in 1 2 3; do echo tick $i; sleep 1; done; echo done >&2' --name ticking"
    And I run "cynork task logs ticking -f"
    Then the exit code is 0
    And stdout is "tick 1\ntick 2\ntick 3"
    And stderr mentions "done"
    When I run "cynork -o json task logs ticking --follow --stream stdout"
    Then the exit code is 0
    And stdout mentions "tick 1"
    And stdout mentions "job_id"

  Scenario: Logs by stream, and following a running task
    When I run "cynork task create --command 'sleep 1; echo out; echo err >&2' --name noisy"
    And I run "cynork task logs noisy -F --stream stdout"
    Then the exit code is 0
    And stdout is "out"
    When I run "cynork task logs noisy --stream stderr"
    Then stdout is ""
    And stderr mentions "err"
