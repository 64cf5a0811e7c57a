# A Vault Agent config in HCL2 style with Go templates, inline and from a file; vaultward
# runs it unchanged (the server address comes from VAULT_ADDR).

exit_after_auth = true

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }

  sink "file" {
    config = {
      path = "/etc/secrets/token"
      mode = 0640
    }
  }
}

template_config {
  exit_on_retry_failure = true
}

# An env file: every key of the secret, upper-cased.
template {
  destination = "/etc/secrets/app.env"
  perms       = "0600"
  # `<<-` removes the closing `EOT` line's indentation from every line (HCL1, as Vault Agent
  # reads it), so the text sits at the same indentation as `EOT`.
  contents    = <<-EOT
  {{ with secret "secret/data/app/config" -}}
  {{ range $key, $value := .Data.data -}}
  {{ $key | toUpper }}={{ $value }}
  {{ end -}}
  {{ end -}}
  EOT
}

# The same secret as JSON, for an application that reads a config file.
template {
  destination = "/etc/secrets/app.json"
  contents    = "{{ with secret \"secret/app/config\" }}{{ .Data.data | toJSONPretty }}{{ end }}\n"
}

# A template file in consul-template's syntax.
template {
  source      = "/etc/vault/app.ctmpl"
  destination = "/etc/secrets/app.conf"
}
