"""SMART on FHIR (App Launch 2.2, Backend Services): scopes, apps, client assertions, directory, launch, discovery."""
