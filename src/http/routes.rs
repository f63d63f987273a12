//! The addresses of the API's resources, built in one place: the views' links
//! ([`crate::instances::Links`]), `Location` headers and the e-mails' links all come from
//! here, so a route and the links to it cannot drift apart.

use crate::instances::Links;

/// The citizen API's links.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiLinks;

/// The one instance of [`ApiLinks`] handlers pass to the capabilities.
pub const LINKS: &ApiLinks = &ApiLinks;

impl ApiLinks {
    /// `POST` creates a draft; the draft's own address, for `Location`.
    pub fn draft(&self, instance_id: &str) -> String {
        format!("/api/v1/instances/{instance_id}")
    }
}

impl Links for ApiLinks {
    fn instance(&self, instance_id: &str) -> String {
        format!("/api/v1/me/instances/{instance_id}")
    }

    fn receipt(&self, instance_id: &str) -> String {
        format!("/api/v1/me/instances/{instance_id}/receipt")
    }

    fn attachment(&self, instance_id: &str, attachment_id: &str) -> String {
        format!("/api/v1/me/instances/{instance_id}/attachments/{attachment_id}")
    }

    fn document(&self, instance_id: &str, document_id: &str) -> String {
        format!("/api/v1/me/instances/{instance_id}/documents/{document_id}")
    }
}

/// The back office's links: the same resources as office staff reach them.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaffLinks;

/// The one instance of [`StaffLinks`].
pub const STAFF_LINKS: &StaffLinks = &StaffLinks;

impl Links for StaffLinks {
    fn instance(&self, instance_id: &str) -> String {
        format!("/api/v1/staff/instances/{instance_id}")
    }

    /// Staff read the frozen document on the instance screen itself.
    fn receipt(&self, instance_id: &str) -> String {
        format!("/api/v1/staff/instances/{instance_id}")
    }

    fn attachment(&self, instance_id: &str, attachment_id: &str) -> String {
        format!("/api/v1/staff/instances/{instance_id}/attachments/{attachment_id}")
    }

    fn document(&self, instance_id: &str, document_id: &str) -> String {
        format!("/api/v1/staff/instances/{instance_id}/documents/{document_id}")
    }
}

/// The machine-to-machine API's links: the same resources as another system reaches them
/// with an API token.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegrationLinks;

/// The one instance of [`IntegrationLinks`].
pub const INTEGRATION_LINKS: &IntegrationLinks = &IntegrationLinks;

impl Links for IntegrationLinks {
    fn instance(&self, instance_id: &str) -> String {
        format!("/api/v1/integration/instances/{instance_id}")
    }

    /// The frozen document is in the instance itself.
    fn receipt(&self, instance_id: &str) -> String {
        format!("/api/v1/integration/instances/{instance_id}")
    }

    fn attachment(&self, instance_id: &str, attachment_id: &str) -> String {
        format!("/api/v1/integration/instances/{instance_id}/attachments/{attachment_id}")
    }

    fn document(&self, instance_id: &str, document_id: &str) -> String {
        format!("/api/v1/integration/instances/{instance_id}/documents/{document_id}")
    }
}
