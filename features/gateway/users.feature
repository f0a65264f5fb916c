Feature: Running it for a team: users
  Everyone changes their own password (the current one required; every session ends and
  the caller gets a new one). Admins list users, create them, disable and enable them,
  reset passwords, and grant or drop admin rights; a disabled user's sessions and API
  keys stop at once, and the deployment is never left without an active admin.

  Background:
    Given a user "alice" who is logged in
    And a user "root" who is an admin

  Scenario: Changing your own password ends every session and answers with a new one
    Given "alice" signs in again as "phone"
    When "alice" changes her password to "a-brand-new-password"
    Then the response status is 200
    And the response has an access token and a refresh token
    When the session "phone" gets "/v1/users/me"
    Then the response status is 401
    And the error code is "token_revoked"
    When the session "replaced by the change" gets "/v1/users/me"
    Then the response status is 401
    And the error code is "token_revoked"
    When "alice" asks who she is
    Then the response status is 200
    When "alice" signs in with the password "alice-password-1"
    Then the response status is 401
    When "alice" signs in with the password "a-brand-new-password"
    Then the response status is 200

  Scenario: A wrong current password is refused and counted like a failed login
    When "alice" changes her password giving the current password "not-her-password" 3 times
    Then the response status is 403
    And the error code is "wrong_password"
    When "alice" changes her password to "a-brand-new-password"
    Then the response status is 429
    And the error code is "too_many_requests"

  Scenario: Admins list users in handle order a page at a time; others may not
    Given a user "bob"
    When "root" lists users 1 at a time until the end
    Then the pages hold "alice", "bob" and "root" in handle order, one a page
    When "alice" gets "/v1/users"
    Then the response status is 403
    And the error code is "admin_required"
    When "root" gets "/v1/users?cursor=bm90LWEtY3Vyc29y"
    Then the response status is 400
    And the error code is "invalid_cursor"

  Scenario: Disabling a user stops her session and her API keys at once
    When "alice" creates an API key "editor" of scope "all"
    And "root" changes the user "alice" with {"disabled": true}
    Then the response status is 200
    And the response field "disabled" is true
    When "root" changes the user "alice" with {"disabled": true}
    Then the response status is 200
    And the response field "disabled" is true
    When "alice" asks who she is
    Then the response status is 403
    And the error code is "user_disabled"
    When the key "editor" gets "/v1/users/me"
    Then the response status is 403
    And the error code is "user_disabled"
    When "alice" logs in
    Then the response status is 403
    And the error code is "user_disabled"
    When "root" changes the user "alice" with {"disabled": false}
    Then the response field "disabled" is false
    When the key "editor" gets "/v1/users/me"
    Then the response status is 200
    When "alice" logs in
    Then the response status is 200

  Scenario: An admin resets a password: the user's sessions end and the new one works
    When "root" resets the password of "alice" to "reset-by-root-1"
    Then the response status is 204
    When "alice" asks who she is
    Then the response status is 401
    And the error code is "token_revoked"
    When "alice" logs in
    Then the response status is 200
    When "alice" resets the password of "root" to "taken-over-1"
    Then the response status is 403
    And the error code is "admin_required"

  Scenario: Admin rights granted or dropped hold from the user's next request
    When "root" changes the user "alice" with {"is_admin": true}
    Then the response field "is_admin" is true
    When "alice" gets "/v1/users"
    Then the response status is 200
    When "root" changes the user "alice" with {"is_admin": false}
    And "alice" gets "/v1/users"
    Then the response status is 403
    And the error code is "admin_required"

  Scenario Outline: Bad changes are refused with a clear error
    When "<who>" changes the user "<whom>" with <body>
    Then the response status is <status>
    And the error code is "<code>"

    Examples:
      | who   | whom   | body                    | status | code           |
      | root  | alice  | {}                      | 400    | empty_update   |
      | root  | alice  | {"disabled": "yes"}     | 400    | invalid_body   |
      | root  | alice  | {"is_owner": true}      | 400    | invalid_body   |
      | root  | nobody | {"disabled": true}      | 404    | unknown_user   |
      | alice | root   | {"disabled": true}      | 403    | admin_required |

  Scenario: Handles are unique whatever their case and spacing
    When "root" creates the user " Carol-Case " in capitals
    Then the response status is 201
    And the response field "handle" is the created handle in lower case
    When "root" creates the same user again in lower case
    Then the response status is 409
    And the error code is "handle_taken"
    When "root" resets the password of "alice" to "short"
    Then the response status is 400
    And the error code is "weak_password"

  Scenario: The last active admin can be neither dropped nor disabled, even by two admins at once
    Given a fresh deployment
    And the fresh deployment's admin "first" and a second admin "second"
    When "first" changes the user "first" with {"is_admin": false}
    Then the response status is 200
    When "second" changes the user "second" with {"disabled": true}
    Then the response status is 409
    And the error code is "last_admin"
    When "second" changes the user "first" with {"is_admin": true}
    And "first" and "second" drop each other's admin rights at once
    Then one of them succeeded and the other got 409
    And exactly one of "first" and "second" is still an admin
