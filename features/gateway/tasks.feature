Feature: Tasks
  A task is a prompt, a script or a list of commands. Script and commands tasks become a
  job on the queue; a prompt task's job goes on the inference queue, to be answered by the
  agent in a sandbox that only nodes with a model take, and is never run as a shell command.

  Background:
    Given a user "alice" who is logged in

  Scenario: Create a commands task and find it by id, by name and in the list
    When "alice" creates a task with commands "echo hello" named "Hello World"
    Then the response status is 201
    And the response field "status" is "queued"
    And the response field "mode" is "commands"
    And the response field "task_name" is "hello-world"
    And the response field "prompt" is "echo hello"
    When "alice" gets the task "hello-world"
    Then the response status is 200
    And the response is the task she created
    When "alice" lists her tasks
    Then the list contains the task she created

  Scenario: A prompt task goes to the inference queue, for the agent, never as shell
    Given a registered test node
    When "alice" creates a task with the prompt "rm -rf / # please"
    Then the response status is 201
    And the response field "mode" is "prompt"
    And the task's job came off the inference queue
    When the test node claims the task's job
    Then the claim runs the prompt "rm -rf / # please" with no shell input

  Scenario: Commands go to the jobs queue, unless they ask for a model
    When "alice" creates a task with commands "echo hi"
    Then the task's job came off the jobs queue
    When "alice" creates a task with commands "python3 ask.py" and the model "smollm2:135m"
    Then the response status is 201
    And the response field "model" is "smollm2:135m"
    And the task's job came off the inference queue

  Scenario: A model name that no server would use is refused
    When "alice" creates a task with commands "true" and the model "two words"
    Then the response status is 400
    And the error code is "invalid_model"

  Scenario: A task may name its sandbox image, in Podman's reference format
    When "alice" posts to "/v1/tasks" the body {"commands": ["true"], "image": "localhost/cynode-sandbox:alt"}
    Then the response status is 201
    And the response field "image" is "localhost/cynode-sandbox:alt"
    When "alice" posts to "/v1/tasks" the body {"commands": ["true"], "image": "Not An Image"}
    Then the response status is 400
    And the error code is "invalid_image"

  Scenario: A create retried with the same Idempotency-Key makes one task
    When "alice" creates a task with commands "echo once" and the Idempotency-Key "nightly-2026-11-22"
    And "alice" creates a task with commands "echo once" and the Idempotency-Key "nightly-2026-11-22"
    Then both answers name the same task, the first 201 and the second 200

  Scenario: Task names are made unique per user
    When "alice" creates a task with commands "true" named "Nightly Build"
    And "alice" creates a task with commands "true" named "nightly build"
    Then the response field "task_name" is "nightly-build-2"

  Scenario: Listing pages through every task, newest first
    Given "alice" has created 7 tasks
    When "alice" lists her tasks 3 at a time, following the cursor
    Then she sees the 7 tasks newest first, each once, in 3 pages

  Scenario: Listing by status
    Given "alice" has created 3 tasks
    When "alice" cancels the newest task
    And "alice" lists her tasks with status "canceled"
    Then the list holds exactly the newest task

  Scenario: Result and logs of a finished task
    Given a registered test node
    When "alice" creates a task with commands "echo hello"
    And the test node claims the task's job
    And the test node reports the job completed with stdout "hello\n" and stderr "warn\n"
    And "alice" gets the result of the task
    Then the response field "status" is "completed"
    And the response field "stdout" is "hello\n"
    And the response field "exit_code" is 0
    When "alice" gets the task's logs of stream "stdout"
    Then the response field "stdout" is "hello\n"
    And the response has no field "stderr"
    When "alice" gets the task's logs of stream "all"
    Then the response field "stderr" is "warn\n"

  Scenario: Cancel a queued task, twice, and not a finished one
    When "alice" creates a task with commands "sleep 300"
    And "alice" cancels the task
    Then the response status is 200
    And the response field "status" is "canceled"
    When "alice" cancels the task
    Then the response status is 200
    Given a registered test node
    When "alice" creates a task with commands "true"
    And the test node claims the task's job
    And the test node reports the job completed with stdout "" and stderr ""
    And "alice" cancels the task
    Then the response status is 409
    And the error code is "task_finished"

  Scenario: Attachments are uploaded directly and handed to the job
    When "alice" uploads an attachment "data.csv" with content "a,b\n1,2\n"
    And "alice" creates a task with commands "cat /job/attachments/data.csv" and the attachment
    Then the response status is 201
    And the task lists the attachment "data.csv"
    Given a registered test node
    When the test node claims the task's job
    Then the claim offers the attachment "data.csv" with content "a,b\n1,2\n"

  Scenario: A dead-lettered job is requeued by the sweep, and an operator can redrive one
    When "alice" creates a task with commands "echo rescued"
    And the task's job message is dead-lettered
    And an admin lists the dead letters
    Then the dead letters include the task's job, queued
    When an admin runs the recovery sweep
    Then the task is queued again with reason "delivery_exhausted"
    When the task's job message is dead-lettered
    And an admin redrives the dead letters
    Then the task's job message is back on its queue at once

  Scenario: Deleting a task removes it for good; only its owner or an admin may
    Given a user "bob" who is logged in
    When "alice" creates a task with commands "echo hi" named "doomed"
    And "bob" sends DELETE to "/v1/tasks/{task}"
    Then the response status is 404
    And the error code is "task_not_found"
    When "alice" sends DELETE to "/v1/tasks/doomed"
    Then the response status is 204
    When "alice" gets "/v1/tasks/{task}"
    Then the response status is 404
    When "alice" sends DELETE to "/v1/tasks/{task}"
    Then the response status is 404
    When "alice" creates a task with commands "echo again" named "doomed"
    Then the response field "task_name" is "doomed"
    When an admin deletes the task
    Then the response status is 204
    When "alice" gets "/v1/tasks/{task}"
    Then the response status is 404

  Scenario: A project's tasks are listed by the project's name
    Given a user "bob" who is logged in
    And "alice" has a project "widgets" with the credential "ghp_listing"
    When "alice" creates a task with commands "true" in the project "widgets"
    And "alice" creates a task with commands "echo elsewhere"
    And "alice" gets "/v1/tasks?project=widgets"
    Then the response status is 200
    And the task list holds only the first task
    When "bob" gets "/v1/tasks?project=widgets"
    Then the response status is 404
    And the error code is "project_not_found"

  Scenario: Retention removes finished tasks once they are old enough, and nothing else
    Given a fresh deployment that keeps finished tasks for 2 seconds
    When "alice" creates a task with commands "echo soon gone" named "old-news"
    And "alice" posts to "/v1/tasks/old-news/cancel" the body {}
    And "alice" creates a task with commands "sleep 600" named "still-queued"
    And 4 seconds pass
    And an admin runs the sweep
    Then the response field "expired_tasks" is 1
    And the task 1 is gone and the task 2 is not
