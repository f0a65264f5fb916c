Feature: Stored credentials
  A user stores credentials for outbound services (a forge token, a model provider's API
  key) by name and provider. A value goes in and never comes out: it is sealed with the
  deployment's KMS key, bound to its owner and credential, and only the claim of a job
  whose project names the credential opens it. Every change and every use is on the
  owner's audit trail.

  Background:
    Given a user "alice" who is logged in

  Scenario: Store, list, rotate, disable, enable and delete a credential; its value never comes back
    When "alice" posts to "/v1/credentials" the body {"name": "Forge Bot", "provider": "github", "value": "ghp_stored_secret", "description": "pushes planned work"}
    Then the response status is 201
    And the response field "name" is "forge-bot"
    And the response field "provider" is "github"
    And the response field "enabled" is true
    And the response body does not contain "ghp_stored_secret"
    When "alice" posts to "/v1/credentials" the body {"name": "forge bot", "provider": "github", "value": "another"}
    Then the response status is 409
    And the error code is "credential_name_taken"
    When "alice" gets "/v1/credentials"
    Then the response status is 200
    And the response body does not contain "ghp_stored_secret"
    When "alice" posts to "/v1/credentials/forge-bot/rotate" the body {"value": "ghp_rotated_secret"}
    Then the response status is 200
    And the response body does not contain "ghp_rotated_secret"
    When "alice" patches "/v1/credentials/forge-bot" with the body {"enabled": false}
    Then the response status is 200
    And the response field "enabled" is false
    When "alice" patches "/v1/credentials/Forge Bot" with the body {"enabled": true, "description": ""}
    Then the response field "enabled" is true
    When "alice" gets "/v1/credentials/forge-bot"
    Then the response status is 200
    And the response body does not contain "ghp_"
    When "alice" sends DELETE to "/v1/credentials/forge-bot"
    Then the response status is 204
    When "alice" gets "/v1/credentials/forge-bot"
    Then the response status is 404
    And the error code is "credential_not_found"
    When "alice" lists the audit trail of "alice"
    Then the trail holds "credential.create" with outcome "success"
    And the trail holds "credential.rotate" with outcome "success"
    And the trail holds "credential.disable" with outcome "success"
    And the trail holds "credential.enable" with outcome "success"
    And the trail holds "credential.delete" with outcome "success"
    And the response body does not contain "ghp_"

  Scenario: Another user's credential is not found, and their projects cannot name it
    Given a user "bob" who is logged in
    When "alice" posts to "/v1/credentials" the body {"name": "bot", "provider": "github", "value": "ghp_alices"}
    Then the response status is 201
    When "bob" gets "/v1/credentials/bot"
    Then the response status is 404
    And the error code is "credential_not_found"
    When "bob" posts to "/v1/credentials/bot/rotate" the body {"value": "ghp_bobs"}
    Then the response status is 404
    When "bob" sends DELETE to "/v1/credentials/bot"
    Then the response status is 404
    When "bob" posts to "/v1/projects" the body {"name": "b", "repo_url": "https://example.com/b.git", "credential_name": "bot"}
    Then the response status is 404
    And the error code is "credential_not_found"
    When "bob" gets "/v1/credentials"
    Then the response status is 200
    And the response body does not contain "bot"

  Scenario: A project that names a stored credential hands its current value to the worker, none while it is disabled
    Given "alice" has a project "widgets" with the credential "tok-project-own"
    When "alice" posts to "/v1/credentials" the body {"name": "bot", "provider": "github", "value": "tok-stored-one"}
    And "alice" patches "/v1/projects/widgets" with the body {"credential_name": "bot"}
    Then the response status is 200
    And the response field "credential_name" is "bot"
    And the response field "has_credential" is false
    When "alice" plans "Add a greeting module" in the project "widgets"
    And a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": []}]}
      """
    And "alice" posts to "/v1/credentials/bot/rotate" the body {"value": "tok-stored-two"}
    And "alice" starts subtask 1
    Then the worker's claim carries the credential "tok-stored-two" and the subtask's branch
    When "alice" patches "/v1/credentials/bot" with the body {"enabled": false}
    Then the worker's claim waits: "credential 'bot' is disabled"
    When "alice" patches "/v1/credentials/bot" with the body {"enabled": true}
    Then the worker's claim carries the credential "tok-stored-two" and the subtask's branch
    When "alice" sends DELETE to "/v1/credentials/bot"
    Then the response status is 409
    And the error code is "credential_in_use"
    When "alice" lists the audit trail of "alice"
    Then the trail holds "credential.use" with outcome "success"
    And the trail holds "credential.use" with outcome "failure"
    And the response body does not contain "tok-stored"

  Scenario Outline: Bad credentials are refused with a clear reason
    When "alice" posts to "/v1/credentials" the body <body>
    Then the response status is 400
    And the error code is "<code>"

    Examples:
      | body                                                                   | code               |
      | {"name": "!!!", "provider": "github", "value": "x"}                    | invalid_credential |
      | {"name": "ok", "provider": "GitHub", "value": "x"}                     | invalid_provider   |
      | {"name": "ok", "provider": "github", "value": "  "}                    | invalid_credential |
      | {"name": "ok", "provider": "github", "value": "two\\nlines"}           | invalid_credential |
      | {"name": "ok", "provider": "github"}                                   | invalid_body       |
      | {"name": "ok", "provider": "github", "value": "x", "secret": "y"}      | invalid_body       |
