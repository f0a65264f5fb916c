Feature: cynork skills: instructions your agents follow
  `cynork skills load FILE` loads a markdown file as a skill named after the file (or
  --name), applied when a prompt has one of its --trigger words, or to a --project's
  tasks; list, get and delete manage them.

  Scenario: Load a skill from a file, replace it, see it, and delete it
    Given I am logged in
    And a file "house-style.md" containing "# House style\nAnswer in one line."
    When I run "cynork skills load house-style.md --trigger style --trigger Brief"
    Then the exit code is 0
    And stdout mentions "name=house-style"
    And stdout mentions "triggers=style,brief"
    When I run "cynork skills load house-style.md --trigger style"
    Then the exit code is 0
    When I run "cynork skills list"
    Then stdout mentions "name=house-style"
    When I run "cynork skills get house-style"
    Then the exit code is 0
    And stdout mentions "Answer in one line."
    When I run "cynork -o json skills list"
    Then stdout is exactly one JSON value with a "skills" list
    When I run "cynork skills delete house-style"
    Then the exit code is 0
    When I run "cynork skills get house-style"
    Then the exit code is 4

  Scenario: Bad skill files and names exit with the documented codes
    Given I am logged in
    And a directory "skills-dir"
    And a file "blank.md" containing "   "
    And a file "ok.md" containing "Be brief."
    When I run "cynork skills load skills-dir"
    Then the exit code is 2
    When I run "cynork skills load missing.md"
    Then the exit code is 2
    When I run "cynork skills load blank.md"
    Then the exit code is 6
    When I run "cynork skills load ok.md --project no-such-project"
    Then the exit code is 4
