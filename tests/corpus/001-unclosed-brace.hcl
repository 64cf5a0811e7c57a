auto_auth {
  method "approle" {
