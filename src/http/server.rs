//! The HTTP server: every worker's app (shared state, routes, middleware) on a bound listener.

use super::state::Shared;
use crate::startup::Services;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use std::net::TcpListener;

/// Runs `future` to its end on a new actix runtime (the server needs one).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    actix_web::rt::System::new().block_on(future)
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds the listener and builds the server; call inside an actix system.
    pub fn build(services: &Services) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&services.settings.listen)?;
        let port = listener.local_addr()?.port();
        let mut public_url = services.settings.public_url();
        if services.settings.public_url.is_none() && services.settings.listen.ends_with(":0") {
            public_url = format!("http://127.0.0.1:{port}");
        }
        let shared = Shared::new(services, public_url);
        let static_dir = services.settings.static_dir.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .configure(|cfg| shared.register(cfg))
                .configure(|cfg| super::routes::configure(cfg, &static_dir))
                .wrap(from_fn(super::middleware::public_api))
                .wrap(from_fn(super::middleware::body_deadline))
                // Outermost, so that the 408s of slow bodies carry it too.
                .wrap(from_fn(super::middleware::deny_framing))
        })
        .listen(listener)?;
        if let Some(workers) = services.settings.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside its task.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
