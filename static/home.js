// The home page's camera: reads a package's QR code (the field app's scanner: BarcodeDetector,
// else the vendored jsQR) and opens the lot's page on this site. Without a camera the form works.

import { parseScanned, startCamera } from "/static/field/scanner.js";

const zh = document.documentElement.lang.startsWith("zh");

// Where the scanned code was printed (`?src=qr` on a package, `?store=` on a shelf tag), kept so
// that the scan counts for its channel on the dashboards.
function placedMarker(text) {
  let url;
  try {
    url = new URL(text.trim());
  } catch {
    return "";
  }
  const kept = new URLSearchParams();
  for (const name of ["src", "store"]) {
    const value = url.searchParams.get(name);
    if (value) kept.set(name, value);
  }
  const query = kept.toString();
  return query ? `?${query}` : "";
}
const start = document.getElementById("scan-start");
const video = document.getElementById("scan-video");
const status = document.getElementById("scan-status");

if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  start.hidden = false;
  start.addEventListener("click", async () => {
    start.disabled = true;
    status.textContent = zh ? "請將 QR 碼對準鏡頭…" : "Point the camera at the QR code…";
    let camera;
    try {
      camera = await startCamera(video, (text) => {
        const found = parseScanned(text);
        if (found.gtin) {
          // The first frame may be read before startCamera has returned the camera.
          if (camera) camera.stop();
          const lot = encodeURIComponent(found.lot);
          location.assign(`/01/${found.gtin}/10/${lot}${placedMarker(text)}`);
        } else {
          status.textContent = zh
            ? "這不是產品履歷的 QR 碼，請掃描包裝上的碼。"
            : "This is not a product's QR code; scan the one on the package.";
        }
      });
    } catch (e) {
      start.disabled = false;
      status.textContent = zh
        ? "無法開啟相機，請改用下方輸入條碼與批號。"
        : "The camera could not start; type the codes below instead.";
    }
  });
}
