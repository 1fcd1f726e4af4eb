//! The Redis store over TLS (`--features redis-tls`), against `redis-server` processes the
//! tests start on loopback with certificates they generate: a private CA, a server
//! certificate for `localhost` and a client certificate.
//!
//! Like the other local-server Redis tests they run when `POW_TEST_REDIS_URL` is set (and
//! must run under `CI`), and need `redis-server` built with TLS on `PATH`.
#![cfg(feature = "redis-tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/scratch.rs"]
mod scratch;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_core::store::{conformance, Key, RedisStore, RedisStoreOptions, Store, StoreError};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use redis_cluster::{free_port_pair, redis_binaries_available, ScratchDir};

/// Whether the tests run: the same opt-in as the other Redis tests.
fn enabled() -> bool {
    let opted_in = std::env::var("POW_TEST_REDIS_URL").is_ok_and(|url| !url.trim().is_empty());
    let ci = std::env::var_os("CI").is_some();
    assert!(
        opted_in || !ci,
        "POW_TEST_REDIS_URL must be set when CI is set"
    );
    if !opted_in {
        pow_core::testing::skipped("POW_TEST_REDIS_URL is not set: the Redis TLS test did not run");
        return false;
    }
    assert!(
        redis_binaries_available(),
        "redis-server and redis-cli must be on PATH to run the Redis TLS tests"
    );
    true
}

/// A CA and the PEM files the server and a client need.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

impl Pki {
    fn generate() -> Self {
        let name = |cn: &str| {
            let mut dn = DistinguishedName::new();
            dn.push(
                DnType::CommonName,
                format!("{cn} {}", pow_core::token::generate_uuid()),
            );
            dn
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name = name("pow test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |host: &str, purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec![host.to_owned()]).unwrap();
            params.distinguished_name = name(host);
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![purpose];
            let cert = params.signed_by(&key, &ca).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert, client_key) = leaf("pow-client", ExtendedKeyUsagePurpose::ClientAuth);
        Self {
            ca: ca.pem(),
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }
}

/// A `redis-server` answering only TLS on its port; killed on drop.
struct TlsServer {
    port: u16,
    child: Child,
    _dir: ScratchDir,
}

impl TlsServer {
    /// Starts a server with `pki`'s certificate; `require_client_cert` asks every client
    /// for a certificate signed by the CA.
    fn start(pki: &Pki, require_client_cert: bool) -> Self {
        let dir = ScratchDir::new("redis-tls");
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let cert = write("server.crt", &pki.server_cert);
        let key = write("server.key", &pki.server_key);
        let ca = write("ca.crt", &pki.ca);
        let port = free_port_pair();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca)
            .args([
                "--tls-auth-clients",
                if require_client_cert { "yes" } else { "no" },
            ])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(log_path(dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let mut server = Self {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server with TLS exited early ({status}); built without TLS?");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server with TLS never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // What accepted the probe must be this server, still running.
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "redis-server with TLS exited after the port accepted ({status}); log:\n{}",
                server.log()
            );
        }
        server
    }

    /// The server's log so far, for a failure's message.
    fn log(&self) -> String {
        std::fs::read_to_string(log_path(self._dir.path())).unwrap_or_default()
    }

    fn url(&self, host: &str, scheme: &str) -> String {
        format!("{scheme}://{host}:{}/", self.port)
    }
}

fn log_path(dir: &Path) -> std::path::PathBuf {
    dir.join("redis.log")
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn options() -> RedisStoreOptions {
    RedisStoreOptions::new()
        .prefix(format!("pow-tls-{}", pow_core::token::generate_uuid()))
        .connection_timeout(Duration::from_secs(2))
        .reconnect_attempts(0)
}

async fn round_trip(store: &RedisStore) {
    let key = Key::from(["k".to_owned()]);
    store
        .put("ns", vec![(key.clone(), b"over tls".to_vec())], None)
        .await
        .unwrap();
    assert_eq!(
        store.get("ns", &key).await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
}

/// A store on a `rediss://` URL trusting the private CA passes the whole conformance suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_over_tls() {
    if !enabled() {
        return;
    }
    let pki = Pki::generate();
    let server = TlsServer::start(&pki, false);
    let store = RedisStore::connect_with_options(
        &server.url("localhost", "rediss"),
        options().tls_root_certificate(pki.ca.clone()),
    )
    .await
    .unwrap_or_else(|err| {
        let alive = TcpStream::connect(("127.0.0.1", server.port)).is_ok();
        panic!(
            "{err} (port {} accepts now: {alive}); server log:\n{}",
            server.port,
            server.log()
        )
    });
    round_trip(&store).await;
    conformance::run_all(Arc::new(store)).await;
}

/// An untrusted certificate, a name the certificate does not carry, plain text on the TLS
/// port and certificates given for a plain URL are all refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_servers_and_plain_text_are_refused() {
    if !enabled() {
        return;
    }
    let pki = Pki::generate();
    let server = TlsServer::start(&pki, false);
    let tls_url = server.url("localhost", "rediss");

    // The system's roots do not know the private CA; neither does another CA.
    let err = RedisStore::connect_with_options(&tls_url, options())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let other = Pki::generate();
    let err = RedisStore::connect_with_options(&tls_url, options().tls_root_certificate(other.ca))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // The certificate names `localhost`, not the address.
    let err = RedisStore::connect_with_options(
        &server.url("127.0.0.1", "rediss"),
        options().tls_root_certificate(pki.ca.clone()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // Plain text to the TLS port gets no answer a store could use.
    assert!(
        RedisStore::connect_with_options(&server.url("localhost", "redis"), options())
            .await
            .is_err()
    );

    // TLS settings on a `redis://` URL are refused, not silently dropped.
    let err = RedisStore::connect_with_options(
        &server.url("localhost", "redis"),
        options().tls_root_certificate(pki.ca.clone()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(msg) if msg.contains("rediss://")),
        "{err:?}"
    );
}

/// A server that requires client certificates lets in a client presenting one signed by
/// its CA, and nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_open_servers_that_require_them() {
    if !enabled() {
        return;
    }
    let pki = Pki::generate();
    let server = TlsServer::start(&pki, true);
    let url = server.url("localhost", "rediss");

    let without =
        RedisStore::connect_with_options(&url, options().tls_root_certificate(pki.ca.clone()))
            .await;
    // The handshake may complete before the server checks the (missing) certificate, in
    // which case the first command fails instead of the connect.
    if let Ok(store) = without {
        let res = store.get("ns", &Key::from(["k".to_owned()])).await;
        assert!(res.is_err(), "a client without a certificate was served");
    }

    let stranger = Pki::generate();
    let with_foreign = RedisStore::connect_with_options(
        &url,
        options()
            .tls_root_certificate(pki.ca.clone())
            .tls_client_certificate(stranger.client_cert, stranger.client_key),
    )
    .await;
    if let Ok(store) = with_foreign {
        let res = store.get("ns", &Key::from(["k".to_owned()])).await;
        assert!(
            res.is_err(),
            "a client with a foreign certificate was served"
        );
    }

    let store = RedisStore::connect_with_options(
        &url,
        options()
            .tls_root_certificate(pki.ca.clone())
            .tls_client_certificate(pki.client_cert.clone(), pki.client_key.clone()),
    )
    .await
    .unwrap();
    round_trip(&store).await;
}
