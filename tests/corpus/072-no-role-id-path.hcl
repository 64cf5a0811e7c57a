auto_auth {
  method "approle" {
    config { secret_id_file_path = "/s" }
  }
  sink "file" { config { path = "/t" } }
}
