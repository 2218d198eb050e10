#!/usr/bin/env node
import '../dist/bootos.mjs';
