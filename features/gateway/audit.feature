Feature: The audit trail: who did what, when, and how it ended
  Sign-ins and their failures, password changes, API keys made and revoked, user and node
  administration, system preferences and every project credential handed to a node are
  recorded with the actor, the subject, the outcome and the time — never a secret.
  Admins read every event; everyone else reads their own trail.

  Background:
    Given a user "alice" who is logged in
    And a user "root" who is an admin

  Scenario: A user's sign-ins, failures and keys are on her trail, and nothing secret is
    When "alice" logs in with the password "not-her-password"
    Then the response status is 401
    When "alice" creates an API key "editor" of scope "all"
    And the key "editor" gets "/v1/models"
    And "root" changes the user "alice" with {"is_admin": false}
    And "alice" gets "/v1/audit"
    Then the response status is 200
    And the trail holds "auth.login" with outcome "success"
    And the trail holds "auth.login" with outcome "failure"
    And the trail holds "api_key.create" with outcome "success"
    And the trail holds "api_key.use" with outcome "success"
    And the trail does not hold "user.update"
    And the response body does not contain "cyk_"
    And the response body does not contain "not-her-password"
    When "root" lists the audit trail of "alice"
    Then the trail holds "api_key.create" with outcome "success"
    When "root" gets "/v1/audit?action=user.*&limit=200"
    Then the trail holds "user.update" on "alice"

  Scenario: Node registrations with a wrong key are recorded as failures
    When a test node registers with the pre-shared key "not-the-key"
    Then the response status is 401
    When "root" gets "/v1/audit?action=node.register&outcome=failure&limit=200"
    Then the response status is 200
    And the trail holds "node.register" with outcome "failure"
    And every event on the trail is a "node.register" failure

  Scenario: Only admins read another user's trail, and bad filters are refused
    When "alice" gets "/v1/audit?user=root"
    Then the response status is 403
    And the error code is "admin_required"
    When "alice" gets "/v1/audit?outcome=maybe"
    Then the response status is 400
    And the error code is "invalid_query"
    When "alice" gets "/v1/audit?cursor=bm90LWEtY3Vyc29y"
    Then the response status is 400
    And the error code is "invalid_cursor"

  Scenario: The first admin, made by the bootstrap step, is on the trail
    Given a fresh deployment
    And a user "first" who is an admin
    When "first" gets "/v1/audit?action=user.create"
    Then the trail holds "user.create" with outcome "success"
