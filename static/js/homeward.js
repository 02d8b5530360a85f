// Progressive enhancement only: every page works without this file.
// Starts the NHS design system's components (header menu, error summary focus, etc.).
import { initAll } from '/static/nhsuk/nhsuk-frontend.min.js';

initAll();
