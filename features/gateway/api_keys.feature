Feature: Personal API keys that clients can keep
  Access tokens last 15 minutes; editors, web UIs and scripts need a key that lasts. A
  user creates named keys, sees each secret once, and uses it wherever an access token
  works (`Authorization: Bearer`, or `x-api-key`). A key is scoped to the model routes or
  to everything; revoking it takes effect at once; admins list and revoke anyone's.

  Background:
    Given a user "alice" who is logged in
    And a user "bob" who is logged in

  Scenario: A key is shown once, works as a bearer token and as x-api-key, and lists without its secret
    When "alice" creates an API key "editor" of scope "all"
    Then the response status is 201
    And the answer shows the key's secret once, and its prefix
    When the key "editor" gets "/v1/tasks"
    Then the response status is 200
    When the key "editor" gets "/v1/users/me" through the x-api-key header
    Then the response status is 200
    And the response field "handle" is alice's handle
    When "alice" gets "/v1/api-keys"
    Then the response status is 200
    And the list holds the key "editor", used, without its secret

  Scenario: A key scoped to the model routes reaches only those
    When "alice" creates an API key "chat" of scope "models"
    And the key "chat" gets "/v1/models"
    Then the response status is 200
    When the key "chat" gets "/v1/tasks"
    Then the response status is 403
    And the error code is "api_key_scope"
    When the key "chat" posts to "/v1/api-keys" the body {"name": "escalate", "scope": "all"}
    Then the response status is 403
    And the error code is "api_key_scope"

  Scenario: Revoking a key takes effect at once
    When "alice" creates an API key "ci" of scope "all"
    And the key "ci" gets "/v1/users/me"
    Then the response status is 200
    When "alice" revokes the key "ci"
    Then the response status is 200
    And the response field "name" is "ci"
    When the key "ci" gets "/v1/users/me"
    Then the response status is 401
    And the error code is "api_key_revoked"
    And the response has a WWW-Authenticate header

  Scenario: Another user's key is not found; an admin lists and revokes anyone's
    When "alice" creates an API key "laptop" of scope "all"
    And "bob" revokes the key "laptop"
    Then the response status is 404
    And the error code is "api_key_not_found"
    When "bob" lists the API keys of "alice"
    Then the response status is 403
    And the error code is "admin_required"
    When an admin lists the API keys of "alice"
    Then the response status is 200
    And the list holds the key "laptop", unused, without its secret
    When an admin revokes the key "laptop"
    Then the response status is 200
    When the key "laptop" gets "/v1/users/me"
    Then the response status is 401
    And the error code is "api_key_revoked"

  Scenario: A forged secret for a real key is refused, and logging out with a key says to revoke it
    When "alice" creates an API key "real" of scope "all"
    And the key "real" with its secret changed gets "/v1/users/me"
    Then the response status is 401
    And the error code is "invalid_api_key"
    When the key "real" posts to "/v1/auth/logout" the body {}
    Then the response status is 400
    And the error code is "not_a_session"

  Scenario Outline: Bad requests for a key get a clear error naming the field
    When "alice" posts to "/v1/api-keys" the body <body>
    Then the response status is 400
    And the error code is "<code>"

    Examples:
      | body                                          | code                 |
      | {"name": ""}                                  | invalid_api_key_name |
      | {"name": "k", "expires_in_days": 0}           | invalid_expiry       |
      | {"name": "k", "expires_in_days": 3651}        | invalid_expiry       |
      | {"name": "k", "scope": "root"}                | invalid_body         |
      | {"name": "k", "secret": "mine"}               | invalid_body         |
