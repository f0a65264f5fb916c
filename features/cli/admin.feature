Feature: cynork for operators
  Admins see every edge node (state, last seen, jobs running, configuration) and can
  disable, drain, enable, label and revoke one; they can list and redrive dead letters and run the
  recovery sweep at once. Anyone else gets exit code 3.

  @serial
  Scenario: An admin lists, drains and enables the node
    Given I am logged in as the admin
    When I run "cynork node list"
    Then the exit code is 0
    And stdout mentions "node={node}"
    And stdout mentions "state=enabled"
    When I run "cynork nodes list"
    Then the exit code is 0
    And stdout mentions "node={node}"
    When I run "cynork node drain {node}"
    Then the exit code is 0
    And stdout mentions "state=draining"
    When I run "cynork node enable {node}"
    Then the exit code is 0
    And stdout mentions "state=enabled"
    When I run "cynork node get no-such-node"
    Then the exit code is 4
    When I run "cynork node label {node} trusted gpu"
    Then the exit code is 0
    And stdout mentions "labels=gpu,trusted"
    When I run "cynork node label {node} Not-A-Label"
    Then the exit code is 6
    When I run "cynork node label {node}"
    Then the exit code is 0
    When I run "cynork node revoke no-such-node -y"
    Then the exit code is 4

  Scenario: Dead letters and the sweep
    Given I am logged in as the admin
    When I run "cynork admin dead-letters -o json"
    Then the exit code is 0
    And stdout is exactly one JSON value with "dead_letters" = []
    When I run "cynork admin redrive"
    Then the exit code is 0
    And stdout mentions "redriven="
    When I run "cynork admin sweep"
    Then the exit code is 0
    And stdout mentions "requeued="

  Scenario: Only admins are operators
    Given I am logged in
    When I run "cynork node list"
    Then the exit code is 3
    When I run "cynork admin sweep"
    Then the exit code is 3

  Scenario: An admin changes a system setting at run time and restores it
    Given I am logged in as a new admin
    When I run "cynork settings list"
    Then the exit code is 0
    And stdout mentions "key=nodes.stale_secs"
    When I run "cynork settings set streams.max_open_per_user 9"
    Then the exit code is 0
    And stdout mentions "key=streams.max_open_per_user value=9 source=setting"
    When I run "cynork settings get streams.max_open_per_user"
    Then stdout mentions "value=9"
    When I run "cynork settings set streams.max_open_per_user default"
    Then the exit code is 0
    And stdout mentions "source=deployment"
    When I run "cynork settings set streams.max_open_per_user lots"
    Then the exit code is 2
    When I run "cynork settings set nodes.stale_secs 1"
    Then the exit code is 6
    When I run "cynork settings set no.such 1"
    Then the exit code is 4

  Scenario: Settings are for admins only
    Given I am logged in
    When I run "cynork settings list"
    Then the exit code is 3
