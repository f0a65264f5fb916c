Feature: The edge node's life: registration, cancellation, crashes and shutdown
  The node registers with the pre-shared key and reports what it can do. It keeps a job's
  message hidden while the job runs, deletes it only once the gateway stored the result,
  writes the result to disk before sending it, and cleans up after a crash.

  Background:
    Given an edge node is running
    And a user "alice" who is logged in

  Scenario: The node's capabilities are stored at registration
    Then the stored capabilities of the node name its CPUs, memory, Podman version, sandbox image and hosted models
    And the gateway is ready

  Scenario: Canceling a running job stops its sandbox
    When "alice" runs the commands:
      | sleep 300 |
    And the task is running
    And "alice" cancels the task
    Then the task's job is canceled within 10 seconds
    And no sandbox container of the job is left

  Scenario: Deleting a running task stops its sandbox and leaves nothing of it
    When "alice" runs the commands:
      | sleep 300 |
    And the task is running
    And "alice" deletes the task
    Then the task is gone
    And no sandbox container of the job is left

  Scenario: An agent killed mid-job restarts and the job completes exactly once
    When "alice" runs the commands:
      | sleep 3; echo done |
    And the task is running
    And the edge node is killed with SIGKILL
    And the edge node is started again
    Then the task completes
    And its stdout is "done\n"
    And the result has one job, run as attempt 2
    And no sandbox container of the job is left

  Scenario: A result the gateway could not take is kept on disk and sent after a restart
    When "alice" runs the commands:
      | sleep 2; echo kept |
    And the task is running
    And the gateway goes down
    And the node has a result waiting on disk
    And the edge node is killed with SIGKILL
    And the gateway comes back
    And the edge node is started again
    Then the task completes
    And its stdout is "kept\n"
    And the result has one job, run as attempt 1

  Scenario: A node the gateway forgot (its tables were reset) registers again by itself
    When the gateway forgets the edge node
    And "alice" runs the commands:
      | echo after-reset |
    Then the task completes
    And its stdout is "after-reset\n"

  Scenario: SIGTERM lets a running job finish before the node exits
    When "alice" runs the commands:
      | sleep 1; echo finished |
    And the task is running
    And the edge node receives SIGTERM
    Then the edge node exits with status 0
    And the task completes
    And its stdout is "finished\n"

  Scenario: SIGTERM hands back a job that outlasts the grace period, and it runs again
    When "alice" runs the commands:
      | sleep 6; echo again |
    And the task is running
    And the edge node receives SIGTERM
    Then the edge node exits with status 0
    And the job is queued again, handed back by its node
    And no sandbox container of the job is left
    When the edge node is started again
    Then the task completes
    And its stdout is "again\n"
    And the result has one job, run as attempt 2

  Scenario Outline: The node refuses to start without a working Podman setup
    When an edge node is started with <setting>
    Then it exits with status 3
    And it says "<message>"

    Examples:
      | setting                                   | message                     |
      | podman "/nonexistent/podman"              | podman is not installed     |
      | the sandbox image "localhost/nope:1"      | edge-node/sandbox/build-image.sh |
