// Reading a lot's QR code with the camera: the browser's BarcodeDetector where it exists, else
// the vendored jsQR decoder (static/vendor/jsqr), loaded only when the camera starts. Typing the
// lot code or the link always works too (app.js).

let jsqrLoading = null;

function loadJsQR() {
  if (!jsqrLoading) {
    jsqrLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/jsqr/jsQR.js";
      script.onload = () => resolve(self.jsQR);
      script.onerror = () => reject(new Error("the QR decoder did not load"));
      document.head.append(script);
    });
  }
  return jsqrLoading;
}

async function makeDecoder() {
  if ("BarcodeDetector" in self) {
    try {
      const formats = await self.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const detector = new self.BarcodeDetector({ formats: ["qr_code"] });
        return { name: "BarcodeDetector", decode: async (video) => (await detector.detect(video))[0]?.rawValue };
      }
    } catch { /* fall through to jsQR */ }
  }
  const jsQR = await loadJsQR();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return {
    name: "jsQR",
    decode: async (video) => {
      const width = video.videoWidth, height = video.videoHeight;
      if (!width || !height) return undefined;
      canvas.width = width; canvas.height = height;
      context.drawImage(video, 0, 0, width, height);
      const image = context.getImageData(0, 0, width, height);
      return jsQR(image.data, width, height, { inversionAttempts: "dontInvert" })?.data;
    },
  };
}

/**
 * Starts the camera in `video` and calls `found(text)` with each code read (the same code is
 * reported once until another is seen). Resolves with {decoder, stop}.
 */
export async function startCamera(video, found) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: "environment" } },
    audio: false,
  });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const decoder = await makeDecoder();
  let running = true, last = null;
  const tick = async () => {
    if (!running) return;
    try {
      const text = await decoder.decode(video);
      if (text && text !== last) {
        last = text;
        found(text);
      }
    } catch { /* a frame that cannot be read: try the next */ }
    setTimeout(tick, 150);
  };
  tick();
  return {
    decoder: decoder.name,
    stop() {
      running = false;
      stream.getTracks().forEach((t) => t.stop());
      video.hidden = true;
    },
  };
}

/**
 * A lot from what was scanned or typed: a GS1 Digital Link (any host, `/01/{gtin}/10/{lot}`)
 * gives {gtin, lot}; anything else is taken as a lot code alone, {code}.
 */
export function parseScanned(text) {
  const value = text.trim();
  const match = value.match(/(?:^|\/)01\/(\d{14})\/10\/([^/?#]+)/);
  if (match) {
    try {
      return { gtin: match[1], lot: decodeURIComponent(match[2]) };
    } catch {
      return { code: value };
    }
  }
  return { code: value };
}
