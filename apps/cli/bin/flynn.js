#!/usr/bin/env node
import '../dist/flynn.js';
