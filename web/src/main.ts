import { createApp } from 'vue';
import 'leaflet/dist/leaflet.css';
import './style.css';
import App from './App.vue';

createApp(App).mount('#app');
