Feature: Items API
  The demo shop keeps a list of items that clients read and extend over HTTP.

  Background:
    Given the demo app is healthy

  Scenario: The seeded items are listed
    When I list the items
    Then the response status is 200
    And the items include "apple" and "banana"

  Scenario: A new item is added and listed
    When I add an item with a unique name
    Then the response status is 201
    And the response is the new item
    When I list the items
    Then the items include the new item

  Scenario: An empty name is refused
    When I add an item named "   "
    Then the response status is 400
    And the error says "must not be empty"
