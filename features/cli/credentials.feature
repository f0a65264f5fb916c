Feature: cynork creds: stored credentials for outbound services
  `cynork creds create NAME --provider P` stores a credential whose value it reads from
  stdin (never from the command line); nothing prints it again. rotate (a new value from
  stdin), disable, enable and delete manage it, and a project names one with
  --credential-name.

  Scenario: Store, list, rotate, disable and delete a credential; its value is never printed
    Given I am logged in
    When I run "cynork creds create 'Forge Bot' --provider github --description 'pushes'" with stdin "ghp_never_printed_cli"
    Then the exit code is 0
    And stdout mentions "name=forge-bot"
    And stdout mentions "provider=github"
    And stdout mentions "state=enabled"
    And stdout does not mention "ghp_never_printed_cli"
    When I run "cynork creds list"
    Then the exit code is 0
    And stdout mentions "name=forge-bot"
    When I run "cynork creds rotate forge-bot" with stdin "ghp_rotated_cli"
    Then the exit code is 0
    And stdout mentions "rotated_at="
    And stdout does not mention "ghp_rotated_cli"
    When I run "cynork creds disable forge-bot"
    Then stdout mentions "state=disabled"
    When I run "cynork creds enable forge-bot"
    Then stdout mentions "state=enabled"
    When I run "cynork project create site --repo https://example.com/site.git --credential-name forge-bot"
    Then the exit code is 0
    And stdout mentions "credential=creds:forge-bot"
    When I run "cynork creds delete forge-bot -y"
    Then the exit code is 5
    When I run "cynork project update site --credential-name ''"
    Then stdout mentions "credential=none"
    When I run "cynork -o json creds get forge-bot"
    Then stdout is exactly one JSON value with "name" = "forge-bot"
    When I run "cynork creds delete forge-bot -y"
    Then the exit code is 0
    When I run "cynork creds get forge-bot"
    Then the exit code is 4
    When I run "cynork audit list --action credential"
    Then the exit code is 0
    And stdout mentions "credential.rotate"
    And stdout does not mention "ghp_"

  Scenario: Bad credentials exit with the documented codes
    Given I am logged in
    When I run "cynork creds create bot --provider GitHub" with stdin "x"
    Then the exit code is 6
    When I run "cynork creds create bot --provider github" with stdin ""
    Then the exit code is 2
    When I run "cynork creds rotate nobody" with stdin "x"
    Then the exit code is 4
