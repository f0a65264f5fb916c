Feature: Logging in, refreshing and logging out
  A user logs in with a handle and password and gets a short-lived access token and a
  refresh token. Every refresh replaces the refresh token; using a replaced one again
  revokes the whole session. Logging out revokes the session's access tokens at once.

  Background:
    Given a user "alice"

  Scenario: Log in and ask who I am
    When "alice" logs in
    Then the response status is 200
    And the response has an access token and a refresh token
    When "alice" asks who she is
    Then the response status is 200
    And the response field "handle" is alice's handle
    And the response field "is_admin" is false

  Scenario: A wrong password and an unknown user get the same answer
    When "alice" logs in with the password "not-her-password"
    Then the response status is 401
    And the error code is "invalid_credentials"
    And I remember the response
    When "nobody-at-all" logs in with the password "whatever-password"
    Then the response is the same error as the one I remembered

  Scenario: Repeated failed logins are throttled
    When "alice" logs in with the password "wrong-password-1" 3 times
    And "alice" logs in
    Then the response status is 429
    And the error code is "too_many_requests"
    And the response has a Retry-After header

  Scenario: Guesses in parallel get no more tries, and a spray from elsewhere locks nobody out
    When 20 wrong passwords for "alice" arrive at once from 203.0.113.7
    Then at most 3 of them were checked and the rest got 429
    When "alice" logs in from 203.0.113.7
    Then the response status is 429
    When "alice" logs in from 192.0.2.10
    Then the response status is 200

  Scenario: Refreshing rotates the refresh token
    Given "alice" is logged in
    When "alice" refreshes her session
    Then the response status is 200
    And the new refresh token differs from the old one
    And "alice" can ask who she is

  Scenario: Reusing a replaced refresh token revokes the session
    Given "alice" is logged in
    When "alice" refreshes her session
    And "alice" refreshes with the replaced refresh token
    Then the response status is 401
    And the error code is "refresh_token_reused"
    When "alice" asks who she is
    Then the response status is 401
    And the error code is "token_revoked"

  Scenario: Logging out revokes the access token at once
    Given "alice" is logged in
    When "alice" logs out
    Then the response status is 204
    When "alice" asks who she is
    Then the response status is 401
    And the error code is "token_revoked"

  Scenario Outline: Requests with a missing, bad or expired token are refused
    When I ask who I am with <token>
    Then the response status is 401
    And the error code is "<code>"
    And the response has a WWW-Authenticate header

    Examples:
      | token                          | code          |
      | no token                       | missing_token |
      | the token "not-a-jwt"          | invalid_token |
      | a token signed with another key | invalid_token |
      | an expired token of "alice"    | token_expired |

  Scenario: Only admins create users
    Given "alice" is logged in
    When "alice" creates a user "mallory"
    Then the response status is 403
    And the error code is "admin_required"
