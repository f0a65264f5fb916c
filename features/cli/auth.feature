Feature: cynork configuration, status and authentication
  cynork keeps the gateway URL and tokens in ~/.config/cynork/config.yaml (mode 0600);
  CYNORK_GATEWAY_URL and CYNORK_TOKEN override it. Exit codes: 0 ok, 2 usage, 3 auth,
  4 not found, 5 conflict, 6 validation, 7 gateway or network, 8 internal.

  Scenario: Version, help and completion need nothing else
    When I run "cynork version"
    Then the exit code is 0
    And stdout is "version=0.1.0"
    When I run "cynork -o json version"
    Then stdout is exactly one JSON value with "version" = "0.1.0"
    When I run "cynork --help"
    Then the exit code is 0
    And stdout mentions "Exit codes:"
    When I run "cynork completion bash"
    Then the exit code is 0
    And stdout mentions "cynork"

  Scenario: Status before and after logging in
    Given a user exists
    When I run "cynork status"
    Then the exit code is 0
    And stdout mentions "reachable=true ready=true user=-"
    When I log in
    And I run "cynork status"
    Then stdout mentions "user=" followed by my handle

  Scenario: Logging in saves the tokens privately
    Given a user exists
    When I run "cynork auth login -u {handle} --password-stdin" with stdin "{password}"
    Then the exit code is 0
    And stdout mentions "logged_in=true"
    And the config file holds a token and has mode 600
    When I run "cynork auth whoami"
    Then the exit code is 0
    And stdout mentions "handle=" followed by my handle

  Scenario: A wrong password is an auth failure
    Given a user exists
    When I run "cynork auth login -u {handle} --password-stdin" with stdin "wrong-password"
    Then the exit code is 3
    And stderr mentions "wrong handle or password"

  Scenario: No terminal and no --password-stdin is a usage error
    Given a user exists
    When I run "cynork auth login -u {handle}"
    Then the exit code is 2
    And stderr mentions "--password-stdin"

  Scenario: Logging out needs no gateway
    Given I am logged in
    When the gateway address is unreachable
    And I run "cynork auth logout"
    Then the exit code is 0
    And the config file holds no token
    When the gateway address is restored
    And I run "cynork auth whoami"
    Then the exit code is 3
    And stderr mentions "not logged in"

  Scenario: A revoked token is refused
    Given I am logged in
    And I remember my access token
    When I run "cynork auth logout"
    And I run "cynork auth whoami" with my remembered token in CYNORK_TOKEN
    Then the exit code is 3
    And stderr mentions "session has ended"

  Scenario: An expired access token is refreshed once, transparently
    Given I am logged in
    When my saved access token expires
    And I run "cynork auth whoami"
    Then the exit code is 0
    And the saved access token has changed

  Scenario: Two cynork processes refreshing at once both keep the session
    Given I am logged in
    When my saved access token expires
    And I run "cynork auth whoami" in two processes at once
    Then both exit with code 0
    When I run "cynork auth whoami"
    Then the exit code is 0

  Scenario: A config file with a syntax error fails every command first
    Given the config file contains "gateway_url: [oops"
    When I run "cynork version"
    Then the exit code is 2
    And stderr mentions "is not valid"

  Scenario: An unreachable gateway is a gateway error
    Given I am logged in
    When the gateway address is unreachable
    And I run "cynork status"
    Then the exit code is 7
    When I run "cynork task list"
    Then the exit code is 7
    And stderr mentions "unreachable"

  Scenario: A server that is not a CyNode gateway is an internal error
    Given a user exists
    When the gateway address is LocalStack's
    And I run "cynork auth login -u {handle} --password-stdin" with stdin "{password}"
    Then the exit code is 8
    And stderr mentions "not understood"

  Scenario: An API key works as CYNORK_TOKEN until it is revoked
    Given I am logged in
    When I run "cynork -o json apikey create laptop --scope all --expires-in-days 90"
    Then the exit code is 0
    And I remember the API key it printed as JSON
    When I run "cynork auth whoami" with my remembered token in CYNORK_TOKEN
    Then the exit code is 0
    And stdout mentions "handle=" followed by my handle
    When I run "cynork apikey list"
    Then the exit code is 0
    And stdout mentions "name=laptop scope=all"
    And stdout mentions "last_used=20"
    When I run "cynork apikey revoke {key_id}"
    Then the exit code is 0
    And stdout mentions "revoked="
    When I run "cynork auth whoami" with my remembered token in CYNORK_TOKEN
    Then the exit code is 3
    And stderr mentions "revoked"
    When I run "cynork apikey create ''"
    Then the exit code is 6
    When I run "cynork apikey revoke key_01JZZZZZZZZZZZZZZZZZZZZZZZ"
    Then the exit code is 4

  Scenario: A models-scoped key reaches the models but not the tasks
    Given I am logged in
    When I run "cynork -o json apikey create editor"
    And I remember the API key it printed as JSON
    And I run "cynork models list" with my remembered token in CYNORK_TOKEN
    Then the exit code is 0
    When I run "cynork task list" with my remembered token in CYNORK_TOKEN
    Then the exit code is 3
    And stderr mentions "model routes"

  Scenario: Usage shows one line a day and model, then the totals and the hosted model budget
    Given I am logged in
    When I run "cynork usage --days 7"
    Then the exit code is 0
    And stdout mentions "total="
    And stdout mentions "calls=0 prompt_tokens=0 completion_tokens=0 cost_usd=0.000000"
    And stdout mentions "budget_today_usd=0.000000 of=none this_month_usd=0.000000 of_month=none max_tokens_per_minute=none"
    When I run "cynork -o json usage"
    Then stdout is exactly one JSON value with "calls" = 0
    When I run "cynork usage --days 0"
    Then the exit code is 6
