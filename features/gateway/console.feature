Feature: The web console's pages, served by the deployment itself
  The gateway serves the console (console/, built by console/build and embedded in the
  gateway) under / on the API's own origin, so the console's requests need no CORS and
  carry only the bearer token it holds in memory. features/console/ drives it in a real
  browser; here are the promises of the serving itself.

  Scenario: The page is never cached, names its assets, and allows only this origin
    When a browser asks for "/"
    Then it gets 200 "text/html; charset=utf-8" with "no-cache"
    And its content security policy allows scripts, styles and connections from this origin only, and no framing
    And every asset it names is served with its type and cached for a year

  Scenario: A console asset that does not exist is a 404 in the API's error shape
    When a browser asks for "/assets/nothing-here.js"
    Then the response status is 404
    And the error code is "route_not_found"
